// Package bustest is the conformance suite every bus.Bus implementation must
// pass, so that the hub behaves the same in-process and over Redis.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"automationhub/internal/bus"
)

// RedeliverAfter is the redelivery delay factories must configure: short
// enough for quick tests, long enough that a consumer acks well within it.
const RedeliverAfter = 200 * time.Millisecond

// promptly bounds how long Dequeue may take to notice a cancelled context and
// how long a subscription may take to close (the interface allows up to 2 s
// for a blocked Redis read).
const promptly = 2 * time.Second

// waitLong bounds waits that succeed immediately in a healthy implementation;
// it only matters when the implementation is broken.
const waitLong = 10 * time.Second

// Run runs the conformance suite. newBus must return a new, empty bus
// configured with RedeliverAfter; the suite closes it when the subtest ends.
// Subtests that measure time run one at a time; the rest run in parallel.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	tests := []struct {
		name     string
		parallel bool
		fn       func(t *testing.T, b bus.Bus)
	}{
		{"EnqueueDequeueAck", true, testRoundTrip},
		{"FIFOForOneConsumer", true, testFIFO},
		{"TwoConsumersGetDistinctDeliveries", true, testDistinctConsumers},
		{"ConcurrentConsumersEachMessageOnce", true, testConcurrentConsumers},
		{"UnackedIsRedelivered", true, testRedelivery},
		{"AckedIsNotRedelivered", true, testAckedNotRedelivered},
		{"DequeueReturnsPromptlyOnCancel", false, testDequeueCancel},
		{"DequeueRejectsEmptyConsumer", true, testEmptyConsumer},
		{"EnqueueBeforeConsumerIsKept", true, testEnqueueBeforeConsumer},
		{"DuplicatesAreBothDelivered", true, testDuplicates},
		{"SubscribeThenPublishInOrder", true, testSubscribeThenPublish},
		{"TwoSubscribersBothReceive", true, testTwoSubscribers},
		{"PublishBeforeSubscribeIsNotDelivered", true, testPublishBeforeSubscribe},
		{"ClosedSubscriptionChannelCloses", true, testSubscriptionClose},
		{"StalledSubscriberIsDroppedPublisherNeverBlocks", false, testSlowSubscriber},
		{"TopicsAreIsolated", true, testTopicIsolation},
		{"CloseMakesCallsFail", true, testClose},
		{"ConcurrentPublishersOneSubscriber", false, testConcurrentPublishers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.parallel {
				t.Parallel()
			}
			b := newBus(t)
			t.Cleanup(func() { _ = b.Close() })
			tt.fn(t, b)
		})
	}
}

// ctxFor returns a context that ends after d and is cancelled with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func enqueue(t *testing.T, b bus.Bus, runIDs ...string) {
	t.Helper()
	for _, id := range runIDs {
		if err := b.Enqueue(ctxFor(t, waitLong), id); err != nil {
			t.Fatalf("Enqueue(%q): %v", id, err)
		}
	}
}

func dequeue(t *testing.T, b bus.Bus, consumer string) bus.Delivery {
	t.Helper()
	d, err := b.Dequeue(ctxFor(t, waitLong), consumer)
	if err != nil {
		t.Fatalf("Dequeue(%q): %v", consumer, err)
	}
	if d.ID == "" {
		t.Fatalf("Dequeue(%q) = %+v: empty delivery id", consumer, d)
	}
	return d
}

func ack(t *testing.T, b bus.Bus, d bus.Delivery) {
	t.Helper()
	if err := b.Ack(ctxFor(t, waitLong), d); err != nil {
		t.Fatalf("Ack(%+v): %v", d, err)
	}
}

// expectEmpty checks that consumer gets nothing within d.
func expectEmpty(t *testing.T, b bus.Bus, consumer string, d time.Duration) {
	t.Helper()
	got, err := b.Dequeue(ctxFor(t, d), consumer)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dequeue(%q) after the queue should be empty = %+v, %v; want context.DeadlineExceeded", consumer, got, err)
	}
}

func subscribe(t *testing.T, b bus.Bus, topic string) bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(ctxFor(t, waitLong), topic)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func publish(t *testing.T, b bus.Bus, topic string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := b.Publish(ctxFor(t, waitLong), topic, []byte(p)); err != nil {
			t.Fatalf("Publish(%q, %q): %v", topic, p, err)
		}
	}
}

// receive reads the next message from s, failing if none arrives in time.
func receive(t *testing.T, s bus.Subscription) string {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended early: Err() = %v", s.Err())
		}
		return string(m)
	case <-time.After(waitLong):
		t.Fatalf("no message within %v", waitLong)
		return ""
	}
}

// awaitEnd drains s until its channel closes and returns how many messages
// were still read.
func awaitEnd(t *testing.T, s bus.Subscription, within time.Duration) []string {
	t.Helper()
	var got []string
	timeout := time.After(within)
	for {
		select {
		case m, ok := <-s.C():
			if !ok {
				return got
			}
			got = append(got, string(m))
		case <-timeout:
			t.Fatalf("subscription channel not closed within %v", within)
			return nil
		}
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func testRoundTrip(t *testing.T, b bus.Bus) {
	enqueue(t, b, "run-1")
	d := dequeue(t, b, "w1")
	if d.RunID != "run-1" {
		t.Fatalf("Dequeue RunID = %q, want %q", d.RunID, "run-1")
	}
	ack(t, b, d)
	// Acking twice is harmless.
	ack(t, b, d)
}

func testFIFO(t *testing.T, b bus.Bus) {
	want := numbered("run-", 20)
	enqueue(t, b, want...)
	for i, w := range want {
		d := dequeue(t, b, "w1")
		if d.RunID != w {
			t.Fatalf("delivery %d: got %q, want %q", i, d.RunID, w)
		}
		ack(t, b, d)
	}
}

func testDistinctConsumers(t *testing.T, b bus.Bus) {
	enqueue(t, b, "run-a", "run-b")
	var wg sync.WaitGroup
	got := make([]bus.Delivery, 2)
	errs := make([]error, 2)
	for i := range got {
		wg.Go(func() {
			got[i], errs[i] = b.Dequeue(ctxFor(t, waitLong), fmt.Sprintf("w%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("consumer %d: Dequeue: %v", i, err)
		}
	}
	if got[0].RunID == got[1].RunID || got[0].ID == got[1].ID {
		t.Fatalf("both consumers got the same signal: %+v and %+v", got[0], got[1])
	}
	// While both are unacked (and not yet due for redelivery) nobody else gets them.
	expectEmpty(t, b, "w-third", RedeliverAfter/4)
	ack(t, b, got[0])
	ack(t, b, got[1])
}

func testConcurrentConsumers(t *testing.T, b bus.Bus) {
	const runs, consumers = 40, 4
	want := numbered("run-", runs)
	enqueue(t, b, want...)
	var (
		mu    sync.Mutex
		count = make(map[string]int)
		total int
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	for c := range consumers {
		wg.Go(func() {
			for {
				d, err := b.Dequeue(ctx, fmt.Sprintf("w%d", c))
				if err != nil {
					return // ctx ended: the main goroutine checks the count
				}
				if err := b.Ack(ctx, d); err != nil {
					t.Errorf("Ack(%+v): %v", d, err)
				}
				mu.Lock()
				count[d.RunID]++
				total++
				if total == runs {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range want {
		if count[id] != 1 {
			t.Errorf("run %s delivered %d times, want 1", id, count[id])
		}
	}
	if total != runs {
		t.Errorf("got %d deliveries, want %d", total, runs)
	}
}

func testRedelivery(t *testing.T, b bus.Bus) {
	enqueue(t, b, "run-x")
	first := dequeue(t, b, "crashy")
	delivered := time.Now()
	// "crashy" never acks; another consumer gets the signal once it is overdue.
	second := dequeue(t, b, "healthy")
	if waited := time.Since(delivered); waited < RedeliverAfter*9/10 {
		t.Errorf("redelivered after %v, want at least RedeliverAfter (%v)", waited, RedeliverAfter)
	}
	if second.RunID != first.RunID || second.ID != first.ID {
		t.Fatalf("redelivery = %+v, want %+v", second, first)
	}
	ack(t, b, second)
	expectEmpty(t, b, "crashy", 3*RedeliverAfter)
}

func testAckedNotRedelivered(t *testing.T, b bus.Bus) {
	enqueue(t, b, "run-1")
	ack(t, b, dequeue(t, b, "w1"))
	expectEmpty(t, b, "w1", 3*RedeliverAfter)
}

func testDequeueCancel(t *testing.T, b bus.Bus) {
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		d, err := b.Dequeue(ctx, "w1")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dequeue = %+v, %v; want context.Canceled", d, err)
		}
		if took := time.Since(start); took > promptly {
			t.Errorf("Dequeue returned %v after the start, want within %v of the cancel", took, promptly)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		start := time.Now()
		_, err := b.Dequeue(ctxFor(t, 100*time.Millisecond), "w1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dequeue error = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > promptly {
			t.Errorf("Dequeue returned after %v, want within %v", took, promptly)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		enqueue(t, b, "run-1") // even with work available, a dead ctx wins
		if _, err := b.Dequeue(ctx, "w1"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Dequeue error = %v, want context.Canceled", err)
		}
	})
}

func testEmptyConsumer(t *testing.T, b bus.Bus) {
	if _, err := b.Dequeue(ctxFor(t, waitLong), ""); err == nil {
		t.Fatal("Dequeue with an empty consumer name succeeded, want an error")
	}
}

func testEnqueueBeforeConsumer(t *testing.T, b bus.Bus) {
	// No consumer has ever called Dequeue on this bus.
	enqueue(t, b, "early-1", "early-2")
	for _, want := range []string{"early-1", "early-2"} {
		d := dequeue(t, b, "late-worker")
		if d.RunID != want {
			t.Fatalf("got %q, want %q", d.RunID, want)
		}
		ack(t, b, d)
	}
}

func testDuplicates(t *testing.T, b bus.Bus) {
	enqueue(t, b, "run-d", "run-d")
	d1 := dequeue(t, b, "w1")
	d2 := dequeue(t, b, "w1")
	if d1.RunID != "run-d" || d2.RunID != "run-d" {
		t.Fatalf("got %+v and %+v, want run-d twice", d1, d2)
	}
	if d1.ID == d2.ID {
		t.Fatalf("both duplicates have delivery id %q, want distinct ids", d1.ID)
	}
	ack(t, b, d1)
	ack(t, b, d2)
	expectEmpty(t, b, "w1", 3*RedeliverAfter)
}

func testSubscribeThenPublish(t *testing.T, b bus.Bus) {
	s := subscribe(t, b, "t")
	want := append(numbered("m", 100), "")
	publish(t, b, "t", want...)
	for i, w := range want {
		if got := receive(t, s); got != w {
			t.Fatalf("message %d: got %q, want %q", i, got, w)
		}
	}
}

func testTwoSubscribers(t *testing.T, b bus.Bus) {
	s1 := subscribe(t, b, "t")
	s2 := subscribe(t, b, "t")
	want := numbered("m", 50)
	publish(t, b, "t", want...)
	for _, s := range []bus.Subscription{s1, s2} {
		for i, w := range want {
			if got := receive(t, s); got != w {
				t.Fatalf("message %d: got %q, want %q", i, got, w)
			}
		}
	}
}

func testPublishBeforeSubscribe(t *testing.T, b bus.Bus) {
	publish(t, b, "t", "early")
	s := subscribe(t, b, "t")
	publish(t, b, "t", "late")
	if got := receive(t, s); got != "late" {
		t.Fatalf("first message = %q, want %q", got, "late")
	}
}

func testSubscriptionClose(t *testing.T, b bus.Bus) {
	s := subscribe(t, b, "t")
	other := subscribe(t, b, "t")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	awaitEnd(t, s, promptly)
	if err := s.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	// Publishing afterwards is fine and still reaches the other subscriber.
	publish(t, b, "t", "after")
	if got := receive(t, other); got != "after" {
		t.Fatalf("other subscriber got %q, want %q", got, "after")
	}
}

func testSlowSubscriber(t *testing.T, b bus.Bus) {
	const n = 10000
	stalled := subscribe(t, b, "t")
	// A publisher that waited for the stalled subscriber would never finish
	// (it never reads); the bound only turns that hang into a message.
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.Publish(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); err != nil {
				published <- fmt.Errorf("Publish %d: %w", i, err)
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatalf("%d publishes with a stalled subscriber did not finish within %v: the publisher blocks", n, waitLong)
	}
	got := awaitEnd(t, stalled, waitLong)
	if err := stalled.Err(); !errors.Is(err, bus.ErrSlowSubscriber) {
		t.Fatalf("Err() = %v, want ErrSlowSubscriber", err)
	}
	if len(got) > bus.SubscriptionBuffer {
		t.Errorf("stalled subscriber still had %d messages, want at most %d", len(got), bus.SubscriptionBuffer)
	}
	for i, m := range got {
		if want := fmt.Sprintf("m%d", i); m != want {
			t.Fatalf("buffered message %d = %q, want %q", i, m, want)
		}
	}
	// The topic still works for a new subscriber.
	fresh := subscribe(t, b, "t")
	publish(t, b, "t", "again")
	if got := receive(t, fresh); got != "again" {
		t.Fatalf("new subscriber got %q, want %q", got, "again")
	}
}

func testTopicIsolation(t *testing.T, b bus.Bus) {
	logsA := subscribe(t, b, bus.LogTopic("a"))
	cancels := subscribe(t, b, bus.CancelTopic)
	publish(t, b, bus.LogTopic("b"), "for b")
	publish(t, b, bus.CancelTopic, "run-a")
	publish(t, b, bus.LogTopic("a"), "for a")
	if got := receive(t, logsA); got != "for a" {
		t.Errorf("logs:a subscriber got %q, want %q", got, "for a")
	}
	if got := receive(t, cancels); got != "run-a" {
		t.Errorf("cancel subscriber got %q, want %q", got, "run-a")
	}
	// Nothing else arrives on either.
	select {
	case m := <-logsA.C():
		t.Errorf("logs:a subscriber got extra message %q", m)
	case m := <-cancels.C():
		t.Errorf("cancel subscriber got extra message %q", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func testClose(t *testing.T, b bus.Bus) {
	s := subscribe(t, b, "t")
	enqueue(t, b, "run-1")
	d := dequeue(t, b, "w1")
	blocked := make(chan error, 1)
	blockedCtx := ctxFor(t, waitLong)
	go func() { // exits when Dequeue returns, at the latest when blockedCtx ends
		_, err := b.Dequeue(blockedCtx, "w2")
		blocked <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it block

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("blocked Dequeue returned %v, want ErrClosed", err)
		}
	case <-time.After(promptly):
		t.Errorf("blocked Dequeue did not return within %v of Close", promptly)
	}
	awaitEnd(t, s, promptly)
	if err := s.Err(); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("subscription Err() after bus Close = %v, want ErrClosed", err)
	}

	ctx := ctxFor(t, waitLong)
	checks := map[string]error{
		"Enqueue": b.Enqueue(ctx, "run-2"),
		"Ack":     b.Ack(ctx, d),
		"Publish": b.Publish(ctx, "t", []byte("x")),
		"Close":   b.Close(),
	}
	_, checks["Dequeue"] = b.Dequeue(ctx, "w1")
	_, checks["Subscribe"] = b.Subscribe(ctx, "t")
	for op, err := range checks {
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}

func testConcurrentPublishers(t *testing.T, b bus.Bus) {
	const publishers, each = 8, 500
	s := subscribe(t, b, "t")

	// The reader is fast, but 8 publishers in tight loops can still outrun any
	// reader, which the slow-subscriber rule (tested above) would rightly
	// punish. A window of tokens keeps at most half a buffer in flight: a
	// publisher takes a token before each Publish, the reader returns one per
	// message. What is checked here is correctness under concurrency.
	window := make(chan struct{}, bus.SubscriptionBuffer/2)
	readerDone := make(chan struct{})
	received := make(chan []string, 1)
	go func() { // exits when all messages arrived, the subscription ends, or after waitLong
		defer close(readerDone)
		var got []string
		defer func() { received <- got }()
		timeout := time.After(waitLong)
		for len(got) < publishers*each {
			select {
			case m, ok := <-s.C():
				if !ok {
					return
				}
				got = append(got, string(m))
				<-window
			case <-timeout:
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() { // exits after its messages, or when the reader gave up
			for i := range each {
				select {
				case window <- struct{}{}:
				case <-readerDone:
					return
				}
				if err := b.Publish(t.Context(), "t", fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					t.Errorf("publisher %d: Publish %d: %v", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := <-received
	if len(got) != publishers*each {
		t.Fatalf("received %d messages, want %d (subscription Err() = %v)", len(got), publishers*each, s.Err())
	}
	next := make([]int, publishers)
	for _, m := range got {
		var p, i int
		if _, err := fmt.Sscanf(m, "%d:%d", &p, &i); err != nil || p < 0 || p >= publishers {
			t.Fatalf("unexpected message %q", m)
		}
		if i != next[p] {
			t.Fatalf("publisher %d: got message %d, want %d (lost, duplicated or reordered)", p, i, next[p])
		}
		next[p]++
	}
}
