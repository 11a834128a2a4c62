// Package redisbus is the Redis bus of the distributed hub: the ready queue is
// a Redis Stream read through one consumer group, and topics are Redis pub/sub
// channels.
//
// Queue layout: every Enqueue is XADD <queue key> MAXLEN ~ <MaxLen> * run_id
// <run id>, so entry ids are Redis-generated ("<ms>-<seq>") and double as
// Delivery.ID. The consumer group is created lazily by the first Dequeue with
// start id "0" (not "$"), so entries added before any worker existed are still
// delivered. Dequeue first reclaims entries that another consumer left
// unacknowledged for RedeliverAfter (XAUTOCLAIM), then reads new entries
// (XREADGROUP ... >) with a short BLOCK. Ack is XACK + XDEL in one MULTI, so
// the stream holds only unhandled signals; the approximate MAXLEN cap only
// matters when nobody consumes (trimmed signals are recovered by the
// reconciler, like every lost signal). Only one consumer group may read the
// stream, because Ack deletes the entry.
//
// Redis holds nothing that is not also in the database.
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"automationhub/internal/bus"
)

// Defaults for Options fields left zero.
const (
	DefaultQueueKey      = "hub:runs:queue" // REDIS_QUEUE_NAME
	DefaultChannelPrefix = "hub:runs"       // REDIS_PUBSUB_PREFIX
	DefaultGroup         = "hub-workers"
	DefaultMaxLen        = 100000
)

// Options configure a Bus. Zero fields take the defaults above and
// bus.DefaultRedeliverAfter.
type Options struct {
	// QueueKey is the key of the stream holding ready signals.
	QueueKey string
	// ChannelPrefix prefixes every pub/sub channel: topic T is published on
	// "<ChannelPrefix>:T".
	ChannelPrefix string
	// Group is the consumer group the workers share.
	Group string
	// RedeliverAfter is how long a delivery may stay unacknowledged before
	// another Dequeue reclaims it.
	RedeliverAfter time.Duration
	// MaxLen caps the stream approximately (XADD MAXLEN ~).
	MaxLen int64
}

const (
	// runIDField is the stream entry field holding the run id.
	runIDField = "run_id"
	// maxBlock bounds one XREADGROUP BLOCK, and so how long Dequeue may take
	// to notice that its context ended or the bus was closed: go-redis does
	// not interrupt a blocked read when a context is cancelled.
	maxBlock = time.Second
	// minBackoff and maxBackoff bound the wait between Dequeue attempts while
	// Redis is failing.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// subscribeTimeout bounds the wait for a SUBSCRIBE confirmation when the
	// caller's context has no earlier deadline.
	subscribeTimeout = 10 * time.Second
	// healthInterval is how long a subscription's connection may stay silent
	// before it is pinged; a connection silent for two intervals is dead.
	healthInterval = 15 * time.Second
)

// errResubscribed ends a subscription whose connection go-redis re-established
// behind our back: messages published in between were lost.
var errResubscribed = errors.New("redisbus: pub/sub connection was re-established, messages may have been lost")

// Bus is the Redis bus.Bus. It does not own the client: Close leaves it open.
// The only goroutines it starts are one reader per active subscription, which
// exits when that subscription ends (Subscription.Close, slow subscriber,
// transport error, or Bus.Close, each of which waits for it).
type Bus struct {
	client *redis.Client
	opts   Options

	groupReady atomic.Bool // the consumer group is believed to exist

	claimMu     sync.Mutex
	claimCursor string // where the next XAUTOCLAIM scan starts

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close
	subs   map[*subscription]struct{}
}

var _ bus.Bus = (*Bus)(nil)

// New returns a bus on client. It does no I/O: the consumer group is created
// by the first Dequeue.
func New(client *redis.Client, opts Options) (*Bus, error) {
	if client == nil {
		return nil, errors.New("redisbus.New: nil client")
	}
	if opts.RedeliverAfter < 0 || opts.MaxLen < 0 {
		return nil, fmt.Errorf("redisbus.New: negative RedeliverAfter (%v) or MaxLen (%d)", opts.RedeliverAfter, opts.MaxLen)
	}
	if opts.QueueKey == "" {
		opts.QueueKey = DefaultQueueKey
	}
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = DefaultChannelPrefix
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.RedeliverAfter == 0 {
		opts.RedeliverAfter = bus.DefaultRedeliverAfter
	}
	if opts.MaxLen == 0 {
		opts.MaxLen = DefaultMaxLen
	}
	return &Bus{
		client:      client,
		opts:        opts,
		claimCursor: "0-0",
		done:        make(chan struct{}),
		subs:        make(map[*subscription]struct{}),
	}, nil
}

// queueKey is the stream of ready signals.
func (b *Bus) queueKey() string { return b.opts.QueueKey }

// channel is the pub/sub channel of topic.
func (b *Bus) channel(topic string) string { return b.opts.ChannelPrefix + ":" + topic }

// isClosed reports whether Close has been called.
func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Enqueue adds a ready signal for runID to the stream (XADD, approximately
// capped at MaxLen).
func (b *Bus) Enqueue(ctx context.Context, runID string) error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	err := b.client.XAdd(ctx, &redis.XAddArgs{
		Stream: b.queueKey(),
		MaxLen: b.opts.MaxLen,
		Approx: true,
		Values: []any{runIDField, runID},
	}).Err()
	if err != nil {
		return fmt.Errorf("redisbus.Enqueue(%q): %w", runID, err)
	}
	return nil
}

// Dequeue returns the next ready signal for consumer: first one left
// unacknowledged for RedeliverAfter by any consumer, else a new one. While
// Redis fails it retries with backoff (up to 2 s); it returns only a delivery,
// ctx.Err() once ctx ends (within about a second), or bus.ErrClosed.
func (b *Bus) Dequeue(ctx context.Context, consumer string) (bus.Delivery, error) {
	if consumer == "" {
		return bus.Delivery{}, errors.New("redisbus.Dequeue: empty consumer name")
	}
	var backoff time.Duration
	for {
		if b.isClosed() {
			return bus.Delivery{}, bus.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return bus.Delivery{}, err
		}
		d, ok, err := b.tryDequeue(ctx, consumer)
		switch {
		case ok:
			return d, nil
		case err == nil:
			backoff = 0
			continue
		case isNoGroup(err) && backoff == 0:
			// The stream or group was deleted underneath: recreate it at once,
			// but back off if that keeps failing.
			b.groupReady.Store(false)
			backoff = minBackoff / 2
			continue
		}
		b.groupReady.Store(false)
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		select {
		case <-ctx.Done():
			return bus.Delivery{}, ctx.Err()
		case <-b.done:
			return bus.Delivery{}, bus.ErrClosed
		case <-time.After(backoff):
		}
	}
}

// tryDequeue makes one attempt: ensure the group, reclaim an abandoned entry,
// else block briefly for a new one. ok is false with a nil error when nothing
// was available.
func (b *Bus) tryDequeue(ctx context.Context, consumer string) (d bus.Delivery, ok bool, err error) {
	if err := b.ensureGroup(ctx); err != nil {
		return bus.Delivery{}, false, err
	}
	if d, ok, err := b.reclaim(ctx, consumer); ok || err != nil {
		return d, ok, err
	}
	block := min(maxBlock, b.opts.RedeliverAfter)
	if deadline, has := ctx.Deadline(); has {
		block = min(block, time.Until(deadline))
	}
	if block < time.Millisecond {
		return bus.Delivery{}, false, nil // ctx is about to end; BLOCK 0 would wait forever
	}
	streams, err := b.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    b.opts.Group,
		Consumer: consumer,
		Streams:  []string{b.queueKey(), ">"},
		Count:    1,
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return bus.Delivery{}, false, nil
	}
	if err != nil {
		return bus.Delivery{}, false, fmt.Errorf("redisbus.Dequeue: XREADGROUP: %w", err)
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			if d, ok := b.delivery(ctx, m); ok {
				return d, true, nil
			}
		}
	}
	return bus.Delivery{}, false, nil
}

// ensureGroup creates the consumer group (and the stream) unless it is known
// to exist. Start id "0" makes entries added before the group existed visible
// to it; BUSYGROUP means another process created it first.
func (b *Bus) ensureGroup(ctx context.Context) error {
	if b.groupReady.Load() {
		return nil
	}
	err := b.client.XGroupCreateMkStream(ctx, b.queueKey(), b.opts.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redisbus: XGROUP CREATE: %w", err)
	}
	b.groupReady.Store(true)
	return nil
}

// reclaim moves one entry that has been pending for at least RedeliverAfter
// (its consumer crashed or gave up) to consumer (XAUTOCLAIM). The scan cursor
// is kept between calls so every pending entry is eventually examined.
func (b *Bus) reclaim(ctx context.Context, consumer string) (bus.Delivery, bool, error) {
	b.claimMu.Lock()
	start := b.claimCursor
	b.claimMu.Unlock()
	msgs, next, err := b.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   b.queueKey(),
		Group:    b.opts.Group,
		Consumer: consumer,
		MinIdle:  b.opts.RedeliverAfter,
		Start:    start,
		Count:    1,
	}).Result()
	if err != nil {
		return bus.Delivery{}, false, fmt.Errorf("redisbus.Dequeue: XAUTOCLAIM: %w", err)
	}
	b.claimMu.Lock()
	b.claimCursor = next
	b.claimMu.Unlock()
	for _, m := range msgs {
		if d, ok := b.delivery(ctx, m); ok {
			return d, true, nil
		}
	}
	return bus.Delivery{}, false, nil
}

// delivery turns a stream entry into a Delivery. An entry without a run id
// (not written by Enqueue) is acknowledged and skipped.
func (b *Bus) delivery(ctx context.Context, m redis.XMessage) (bus.Delivery, bool) {
	runID, ok := m.Values[runIDField].(string)
	if !ok || runID == "" {
		_ = b.ack(ctx, m.ID) // best effort: at worst it is reclaimed and skipped again
		return bus.Delivery{}, false
	}
	return bus.Delivery{RunID: runID, ID: m.ID}, true
}

// Ack acknowledges and deletes the entry (XACK + XDEL in one MULTI). A missing
// stream or group means there is nothing left to acknowledge.
func (b *Bus) Ack(ctx context.Context, d bus.Delivery) error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	if err := b.ack(ctx, d.ID); err != nil {
		return fmt.Errorf("redisbus.Ack(%q): %w", d.ID, err)
	}
	return nil
}

// ack runs XACK + XDEL for id.
func (b *Bus) ack(ctx context.Context, id string) error {
	_, err := b.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, b.queueKey(), b.opts.Group, id)
		p.XDel(ctx, b.queueKey(), id)
		return nil
	})
	if isNoGroup(err) {
		b.groupReady.Store(false)
		return nil
	}
	return err
}

// isNoGroup reports whether err says the stream or its group does not exist.
func isNoGroup(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "NOGROUP") || strings.Contains(msg, "no longer exists")
}

// Publish sends payload on the topic's channel (PUBLISH). Redis never blocks a
// publisher on a subscriber; each subscriber's reader drops itself when its
// buffer is full.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	if err := b.client.Publish(ctx, b.channel(topic), payload).Err(); err != nil {
		return fmt.Errorf("redisbus.Publish(%q): %w", topic, err)
	}
	return nil
}

// Subscribe subscribes to the topic's channel on a dedicated connection and
// returns after Redis confirmed the subscription, so every later PUBLISH
// reaches it. A reader goroutine then copies messages into the buffer; see Bus
// for when it exits.
func (b *Bus) Subscribe(ctx context.Context, topic string) (bus.Subscription, error) {
	if b.isClosed() {
		return nil, bus.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	channel := b.channel(topic)
	ps := b.client.Subscribe(ctx, channel)
	if err := awaitSubscribed(ctx, ps, channel); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("redisbus.Subscribe(%q): %w", topic, err)
	}
	s := &subscription{b: b, ps: ps, ch: make(chan []byte, bus.SubscriptionBuffer), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = ps.Close()
		return nil, bus.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.run()
	return s, nil
}

// awaitSubscribed reads replies until Redis confirms the subscription to
// channel. Cancelling ctx closes ps, which interrupts the read.
func awaitSubscribed(ctx context.Context, ps *redis.PubSub, channel string) error {
	timeout := subscribeTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	until := time.Now().Add(timeout)
	for {
		left := time.Until(until)
		if left <= 0 {
			return errors.New("timed out waiting for the subscription confirmation")
		}
		msg, err := ps.ReceiveTimeout(ctx, left)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		if m, ok := msg.(*redis.Subscription); ok && m.Kind == "subscribe" && m.Channel == channel {
			return nil
		}
	}
}

// Close ends every subscription with bus.ErrClosed and makes further calls,
// including blocked Dequeue calls once their current read returns, fail with
// bus.ErrClosed. It does not close the client.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	b.closed = true
	close(b.done)
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.end(bus.ErrClosed)
	}
	return nil
}

// subscription is a bus.Subscription on a Redis pub/sub connection.
type subscription struct {
	b    *Bus
	ps   *redis.PubSub
	ch   chan []byte   // written only by run, closed by run when it exits
	done chan struct{} // closed when run has exited

	mu     sync.Mutex
	ending bool  // the end reason is decided
	err    error // the end reason
}

// C returns the channel of messages, closed when the subscription ends.
func (s *subscription) C() <-chan []byte { return s.ch }

// Err reports why the subscription ended.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits for its reader; it is idempotent.
func (s *subscription) Close() error {
	s.end(nil)
	return nil
}

// end records reason (unless one was already decided), closes the connection
// to interrupt the reader and waits for the reader to exit.
func (s *subscription) end(reason error) {
	s.decide(reason)
	_ = s.ps.Close()
	<-s.done
}

// decide records reason if no end reason was decided yet.
func (s *subscription) decide(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ending {
		s.ending, s.err = true, reason
	}
}

// ended reports whether an end reason was decided.
func (s *subscription) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ending
}

// run copies messages from the connection into the buffer. It exits when the
// connection is closed by end, when the buffer is full (ErrSlowSubscriber),
// or on a transport error (including a connection that stays silent after a
// ping, or one go-redis silently re-established), and then closes s.ch.
func (s *subscription) run() {
	defer close(s.done)
	reason := s.receive()
	s.decide(reason)
	_ = s.ps.Close()
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
	close(s.ch)
}

// receive is run's loop; it returns why the subscription should end.
func (s *subscription) receive() error {
	ctx := context.Background()
	pinged := false
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, healthInterval)
		if s.ended() {
			return nil // end decided the reason
		}
		if err != nil {
			if isTimeout(err) && !pinged {
				pinged = true
				if err := s.ps.Ping(ctx); err != nil {
					return fmt.Errorf("redisbus: subscription ping: %w", err)
				}
				continue
			}
			return fmt.Errorf("redisbus: subscription receive: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			select {
			case s.ch <- []byte(m.Payload):
			default:
				return bus.ErrSlowSubscriber
			}
		case *redis.Subscription:
			// We never (un)subscribe after the confirmation, so this is a
			// resubscription after a reconnect.
			return errResubscribed
		case *redis.Pong:
		}
	}
}

// isTimeout reports whether err is a read deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
