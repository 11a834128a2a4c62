package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"automationhub/internal/bus"
	"automationhub/internal/bus/bustest"
	"automationhub/internal/bus/redisbus"
	"automationhub/internal/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// testOptions puts the queue and channels under the test's key prefix.
func testOptions(prefix string) redisbus.Options {
	return redisbus.Options{
		QueueKey:       prefix + "queue",
		ChannelPrefix:  prefix + "pubsub",
		RedeliverAfter: bustest.RedeliverAfter,
	}
}

// setup returns a bus on the test Redis, the raw client and the options used.
func setup(t *testing.T) (*redisbus.Bus, *redis.Client, redisbus.Options) {
	t.Helper()
	client, prefix := hubtest.Redis(t)
	opts := testOptions(prefix)
	b, err := redisbus.New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, client, opts
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b, _, _ := setup(t)
		return b
	})
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestCrashedConsumerIsReclaimed: a worker process dequeues and dies without
// acking; a worker in another process gets the entry through XAUTOCLAIM, and
// after its ack the stream and the pending list are empty.
func TestCrashedConsumerIsReclaimed(t *testing.T) {
	t.Parallel()
	crashed, client, opts := setup(t)
	healthy, err := redisbus.New(client, opts) // another process, same Redis keys
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	ctx := ctxFor(t, 10*time.Second)

	if err := crashed.Enqueue(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	lost, err := crashed.Dequeue(ctx, "worker-crashed")
	if err != nil {
		t.Fatal(err)
	}
	crashed.Close() // the process is gone; its delivery stays pending in Redis

	got, err := healthy.Dequeue(ctx, "worker-healthy")
	if err != nil {
		t.Fatal(err)
	}
	if got != lost {
		t.Fatalf("reclaimed %+v, want %+v", got, lost)
	}
	pending, err := client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: opts.QueueKey, Group: redisbus.DefaultGroup, Start: "-", End: "+", Count: 10}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Consumer != "worker-healthy" || pending[0].RetryCount != 2 {
		t.Fatalf("pending = %+v, want one entry owned by worker-healthy, delivered twice", pending)
	}
	if err := healthy.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	if n := client.XLen(ctx, opts.QueueKey).Val(); n != 0 {
		t.Errorf("XLEN after ack = %d, want 0 (acked entries are deleted)", n)
	}
	if p := client.XPending(ctx, opts.QueueKey, redisbus.DefaultGroup).Val(); p.Count != 0 {
		t.Errorf("pending after ack = %d, want 0", p.Count)
	}
}

// TestStreamDeletedRecovers: the stream key (and with it the group) vanishes,
// once while idle and once while a consumer is blocked in XREADGROUP.
func TestStreamDeletedRecovers(t *testing.T) {
	t.Parallel()
	b, client, opts := setup(t)
	ctx := ctxFor(t, 20*time.Second)
	roundTrip := func(runID string) {
		t.Helper()
		if err := b.Enqueue(ctx, runID); err != nil {
			t.Fatal(err)
		}
		d, err := b.Dequeue(ctx, "w1")
		if err != nil {
			t.Fatal(err)
		}
		if d.RunID != runID {
			t.Fatalf("got %q, want %q", d.RunID, runID)
		}
		if err := b.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip("before")

	t.Run("idle", func(t *testing.T) {
		client.Del(ctx, opts.QueueKey)
		roundTrip("after-del")
		client.XGroupDestroy(ctx, opts.QueueKey, redisbus.DefaultGroup)
		roundTrip("after-group-destroy")
	})

	t.Run("while blocked", func(t *testing.T) {
		type result struct {
			d   bus.Delivery
			err error
		}
		done := make(chan result, 1)
		go func() { // exits when Dequeue returns (ctx bounds it)
			d, err := b.Dequeue(ctx, "w1")
			done <- result{d, err}
		}()
		time.Sleep(100 * time.Millisecond) // let it block in XREADGROUP
		if err := client.Del(ctx, opts.QueueKey).Err(); err != nil {
			t.Fatal(err)
		}
		// XADD recreates the stream without the group; Dequeue must recreate
		// the group from "0" and still see this entry.
		if err := b.Enqueue(ctx, "during-block"); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.d.RunID != "during-block" {
				t.Fatalf("Dequeue = %+v, %v; want during-block", r.d, r.err)
			}
			if err := b.Ack(ctx, r.d); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Dequeue did not recover within 5 s")
		}
	})
}

// countingHook counts the commands a client sends and the dials it attempts.
type countingHook struct{ cmds, dials atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmds)
	}
}

// TestRedisDown: against an unreachable Redis, Enqueue, Publish and Subscribe
// fail, and Dequeue backs off quietly until its context ends. (go-redis itself
// retries a failing command for about 1.7 s with its default options; the
// backoff here is on top of that.)
func TestRedisDown(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	hook := &countingHook{}
	client.AddHook(hook)
	b, err := redisbus.New(client, redisbus.Options{QueueKey: "hub:test:down", RedeliverAfter: bustest.RedeliverAfter})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	t.Run("calls fail", func(t *testing.T) {
		if err := b.Enqueue(ctxFor(t, 300*time.Millisecond), "run-1"); err == nil {
			t.Error("Enqueue succeeded against an unreachable Redis")
		}
		if err := b.Publish(ctxFor(t, 300*time.Millisecond), "t", []byte("x")); err == nil {
			t.Error("Publish succeeded against an unreachable Redis")
		}
		if s, err := b.Subscribe(ctxFor(t, 300*time.Millisecond), "t"); err == nil {
			s.Close()
			t.Error("Subscribe succeeded against an unreachable Redis")
		}
	})

	t.Run("Dequeue backs off", func(t *testing.T) {
		hook.cmds.Store(0)
		hook.dials.Store(0)
		const wait = 3 * time.Second
		start := time.Now()
		d, err := b.Dequeue(ctxFor(t, wait), "w1")
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dequeue = %+v, %v; want context.DeadlineExceeded", d, err)
		}
		if took > wait+500*time.Millisecond {
			t.Errorf("Dequeue returned %v after start, want soon after the %v deadline", took, wait)
		}
		// A handful of attempts, not thousands.
		if n := hook.cmds.Load(); n > 20 {
			t.Errorf("Dequeue sent %d commands in %v, want a backoff (at most 20)", n, wait)
		}
		if n := hook.dials.Load(); n > 200 {
			t.Errorf("Dequeue dialled %d times in %v, want a backoff (at most 200)", n, wait)
		}
		t.Logf("Dequeue against a dead Redis: %d commands, %d dials in %v", hook.cmds.Load(), hook.dials.Load(), took)
	})
}

// TestKeysAndChannels checks where the bus writes: the stream at QueueKey with
// a run_id field, and pub/sub on "<ChannelPrefix>:<topic>".
func TestKeysAndChannels(t *testing.T) {
	t.Parallel()
	b, client, opts := setup(t)
	ctx := ctxFor(t, 10*time.Second)

	raw := client.Subscribe(ctx, opts.ChannelPrefix+":"+bus.LogTopic("r1"))
	defer raw.Close()
	if _, err := raw.Receive(ctx); err != nil { // subscription confirmation
		t.Fatal(err)
	}
	if err := b.Publish(ctx, bus.LogTopic("r1"), []byte("line")); err != nil {
		t.Fatal(err)
	}
	msg, err := raw.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != "line" {
		t.Errorf("raw subscriber got %q, want %q", msg.Payload, "line")
	}

	if err := b.Enqueue(ctx, "run-7"); err != nil {
		t.Fatal(err)
	}
	entries, err := client.XRange(ctx, opts.QueueKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Values["run_id"] != "run-7" {
		t.Fatalf("stream entries = %+v, want one with run_id=run-7", entries)
	}
	d, err := b.Dequeue(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != entries[0].ID {
		t.Errorf("Delivery.ID = %q, want the stream entry id %q", d.ID, entries[0].ID)
	}
}

// TestMaxLenTrims checks the approximate cap on the stream.
func TestMaxLenTrims(t *testing.T) {
	t.Parallel()
	client, prefix := hubtest.Redis(t)
	opts := testOptions(prefix)
	opts.MaxLen = 10
	b, err := redisbus.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := ctxFor(t, 10*time.Second)
	for i := range 1000 {
		if err := b.Enqueue(ctx, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := client.XLen(ctx, opts.QueueKey).Val(); n >= 1000 {
		t.Errorf("XLEN = %d after 1000 enqueues with MaxLen 10, want it trimmed", n)
	}
}

// TestKilledConnectionEndsSubscription: when the subscription's connection
// dies, the subscription ends with a transport error (the viewer resumes from
// the database) instead of silently resubscribing with a gap.
func TestKilledConnectionEndsSubscription(t *testing.T) {
	t.Parallel()
	hubtest.Redis(t) // skip or fail per environment
	opt, err := redis.ParseURL(os.Getenv(hubtest.EnvRedisURL))
	if err != nil {
		t.Fatal(err)
	}
	opt.ClientName = "redisbus-test-" + uuid.NewString()[:8]
	client := redis.NewClient(opt)
	defer client.Close()
	b, err := redisbus.New(client, redisbus.Options{ChannelPrefix: "hubtest:" + opt.ClientName})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := ctxFor(t, 10*time.Second)
	s, err := b.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	list, err := client.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "name="+opt.ClientName+" ") && strings.Contains(line, " sub=1 ") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			if err := client.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscriber connections named %s, want 1:\n%s", killed, opt.ClientName, list)
	}
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("got a message, want the channel closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription did not end within 5 s of its connection being killed")
	}
	if err := s.Err(); err == nil || errors.Is(err, bus.ErrSlowSubscriber) || errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Err() = %v, want a transport error", err)
	}
}

// TestNewValidates checks option validation and defaults.
func TestNewValidates(t *testing.T) {
	if _, err := redisbus.New(nil, redisbus.Options{}); err == nil {
		t.Error("New(nil client) succeeded")
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	if _, err := redisbus.New(client, redisbus.Options{MaxLen: -1}); err == nil {
		t.Error("New with negative MaxLen succeeded")
	}
	if _, err := redisbus.New(client, redisbus.Options{RedeliverAfter: -time.Second}); err == nil {
		t.Error("New with negative RedeliverAfter succeeded")
	}
}
