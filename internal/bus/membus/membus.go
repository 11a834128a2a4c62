// Package membus is the in-process bus of the embedded, single-process hub:
// a FIFO queue with acknowledgement and redelivery, and fan-out topics whose
// publishers never block. Everything lives in memory and is lost when the
// process stops, which the hub tolerates (the database is the truth).
package membus

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"automationhub/internal/bus"
)

// Options configure a Bus.
type Options struct {
	// RedeliverAfter is how long a delivery may stay unacked before it is
	// handed to a consumer again; zero means bus.DefaultRedeliverAfter.
	RedeliverAfter time.Duration
}

// Bus is the in-process bus.Bus. It starts no goroutines: redelivery is checked
// lazily by Dequeue, whose wait is bounded by the earliest redelivery
// deadline. The zero value is not usable; call New.
type Bus struct {
	redeliverAfter time.Duration

	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed by Close; wakes waiting Dequeue calls
	nextID  uint64
	ready   []bus.Delivery          // FIFO of signals never delivered
	pending map[string]*pendingItem // delivered, not yet acked, by Delivery.ID
	changed chan struct{}           // closed (and replaced) when ready gains an item
	topics  map[string]map[*subscription]struct{}
}

// pendingItem is a delivery waiting for its Ack.
type pendingItem struct {
	d         bus.Delivery
	consumer  string
	redeliver time.Time // when the delivery may be handed out again
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty in-process bus.
func New(opts Options) *Bus {
	if opts.RedeliverAfter <= 0 {
		opts.RedeliverAfter = bus.DefaultRedeliverAfter
	}
	return &Bus{
		redeliverAfter: opts.RedeliverAfter,
		done:           make(chan struct{}),
		pending:        make(map[string]*pendingItem),
		changed:        make(chan struct{}),
		topics:         make(map[string]map[*subscription]struct{}),
	}
}

// Enqueue appends a ready signal for runID to the queue.
func (b *Bus) Enqueue(ctx context.Context, runID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.nextID++
	b.ready = append(b.ready, bus.Delivery{RunID: runID, ID: strconv.FormatUint(b.nextID, 10)})
	close(b.changed)
	b.changed = make(chan struct{})
	return nil
}

// Dequeue returns the oldest overdue unacked delivery, else the oldest ready
// signal, waiting until one exists, ctx ends or the bus is closed.
func (b *Bus) Dequeue(ctx context.Context, consumer string) (bus.Delivery, error) {
	if consumer == "" {
		return bus.Delivery{}, errors.New("membus.Dequeue: empty consumer name")
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return bus.Delivery{}, err
		}
		d, ok, changed, wake, err := b.take(consumer)
		if err != nil || ok {
			return d, err
		}
		var timeout <-chan time.Time
		if !wake.IsZero() {
			wait := time.Until(wake)
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			return bus.Delivery{}, ctx.Err()
		case <-b.done:
			return bus.Delivery{}, bus.ErrClosed
		case <-changed:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// take hands out one delivery to consumer if any is available. Otherwise it
// returns the channel closed by the next Enqueue and the earliest redelivery
// deadline (zero when nothing is pending).
func (b *Bus) take(consumer string) (d bus.Delivery, ok bool, changed <-chan struct{}, wake time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.Delivery{}, false, nil, time.Time{}, bus.ErrClosed
	}
	now := time.Now()
	// Overdue deliveries first (their consumer probably crashed), oldest id
	// first so that redelivery order is stable.
	var overdue *pendingItem
	for _, p := range b.pending {
		if now.Before(p.redeliver) {
			if wake.IsZero() || p.redeliver.Before(wake) {
				wake = p.redeliver
			}
			continue
		}
		if overdue == nil || idLess(p.d.ID, overdue.d.ID) {
			overdue = p
		}
	}
	if overdue != nil {
		overdue.consumer = consumer
		overdue.redeliver = now.Add(b.redeliverAfter)
		return overdue.d, true, nil, time.Time{}, nil
	}
	if len(b.ready) > 0 {
		d = b.ready[0]
		b.ready[0] = bus.Delivery{}
		b.ready = b.ready[1:]
		if len(b.ready) == 0 {
			b.ready = nil // let the backing array go
		}
		b.pending[d.ID] = &pendingItem{d: d, consumer: consumer, redeliver: now.Add(b.redeliverAfter)}
		return d, true, nil, time.Time{}, nil
	}
	return bus.Delivery{}, false, b.changed, wake, nil
}

// idLess orders delivery ids (decimal sequence numbers) numerically.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Ack forgets the delivery so it is never handed out again. Unknown or already
// acked deliveries are ignored.
func (b *Bus) Ack(ctx context.Context, d bus.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	delete(b.pending, d.ID)
	return nil
}

// Publish hands a copy of payload to every current subscriber of topic without
// blocking; a subscriber whose buffer is full is ended with
// bus.ErrSlowSubscriber.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	subs := b.topics[topic]
	if len(subs) == 0 {
		return nil
	}
	msg := bytes.Clone(payload)
	if msg == nil {
		msg = []byte{}
	}
	for s := range subs {
		select {
		case s.ch <- msg:
		default:
			b.endLocked(s, bus.ErrSlowSubscriber)
		}
	}
	return nil
}

// Subscribe registers a subscriber of topic; it is active when Subscribe returns.
func (b *Bus) Subscribe(ctx context.Context, topic string) (bus.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	s := &subscription{b: b, topic: topic, ch: make(chan []byte, bus.SubscriptionBuffer)}
	subs := b.topics[topic]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		b.topics[topic] = subs
	}
	subs[s] = struct{}{}
	return s, nil
}

// Close ends every subscription with bus.ErrClosed, wakes blocked Dequeue
// calls and drops the queue. Further calls return bus.ErrClosed.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.closed = true
	close(b.done)
	for _, subs := range b.topics {
		for s := range subs {
			b.endLocked(s, bus.ErrClosed)
		}
	}
	b.ready, b.pending = nil, nil
	return nil
}

// endLocked removes s from its topic, records why it ended and closes its
// channel. b.mu must be held; sends to s.ch also happen only under b.mu, so no
// send can follow the close.
func (b *Bus) endLocked(s *subscription, err error) {
	if s.ended {
		return
	}
	s.ended = true
	s.err = err
	close(s.ch)
	subs := b.topics[s.topic]
	delete(subs, s)
	if len(subs) == 0 {
		delete(b.topics, s.topic)
	}
}

// subscription is a bus.Subscription of the in-process bus. Its fields other
// than ch and topic are guarded by b.mu.
type subscription struct {
	b     *Bus
	topic string
	ch    chan []byte
	ended bool
	err   error
}

// C returns the channel of messages, closed when the subscription ends.
func (s *subscription) C() <-chan []byte { return s.ch }

// Err reports why the subscription ended.
func (s *subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription; it is idempotent.
func (s *subscription) Close() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.endLocked(s, nil)
	return nil
}
