// Package bus declares the small queue and pub/sub interface through which API
// servers and workers exchange signals, and the topic names the hub uses.
//
// Everything on the bus may be lost: the database row is the truth. A lost
// "run X is ready" signal only delays the run until the reconciler publishes it
// again; a lost log batch is re-read from the database by the viewer. Two
// implementations exist: membus (in-process, for the embedded hub) and redisbus
// (Redis Streams + pub/sub, for the distributed hub). Both pass the conformance
// suite in bustest.
package bus

import (
	"context"
	"errors"
	"time"
)

// Bus carries losable signals between API servers and workers: "run X is
// ready" (a work queue with acknowledgement), and topics for live log batches
// and cancel requests (fan-out pub/sub).
//
// Every method returns ErrClosed once Close has been called.
type Bus interface {
	// Enqueue signals that a run is ready to be claimed. Duplicates are harmless.
	// It returns a transport error when the signal could not be sent; callers
	// treat it as best effort (the reconciler sends it again).
	Enqueue(ctx context.Context, runID string) error
	// Dequeue blocks until a ready signal is available for this consumer (a
	// stable worker id) or ctx ends (returns ctx.Err()). A delivery that is not
	// acked is redelivered to some consumer after RedeliverAfter. Transport
	// failures are retried with backoff inside Dequeue, not returned.
	Dequeue(ctx context.Context, consumer string) (Delivery, error)
	// Ack marks a delivery handled. Acking a delivery twice, or one already
	// acked by another consumer after redelivery, is not an error.
	Ack(ctx context.Context, d Delivery) error
	// Publish sends payload to every current subscriber of topic. It never
	// blocks on a slow subscriber. It returns a transport error when the
	// message could not be sent; callers treat it as best effort.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe returns once the subscription is active: every Publish that
	// starts after Subscribe returns is delivered (unless the subscriber is
	// too slow, see Subscription). It returns ctx.Err() or a transport error
	// when the subscription could not be established.
	Subscribe(ctx context.Context, topic string) (Subscription, error)
	// Close releases resources; further calls fail with ErrClosed. Active
	// subscriptions end with ErrClosed and blocked Dequeue calls return
	// ErrClosed.
	Close() error
}

// Delivery is one ready signal handed to a consumer by Dequeue.
type Delivery struct {
	// RunID is the run that is ready to be claimed.
	RunID string
	// ID is the transport id used by Ack. A redelivered signal keeps its id.
	ID string
}

// Subscription delivers messages in publish order. If its buffer
// (SubscriptionBuffer messages) is full, the subscription is closed with
// ErrSlowSubscriber rather than blocking publishers: the subscriber resumes
// from the database.
//
// Messages already buffered when the subscription ends can still be read
// before C is seen closed. Received payloads must be treated as read-only.
type Subscription interface {
	// C returns the channel of messages; it is closed when the subscription ends.
	C() <-chan []byte
	// Err reports why the subscription ended: nil while it is active and after
	// Close, ErrSlowSubscriber, ErrClosed when the bus was closed, or a
	// transport error. It is meaningful once C is closed.
	Err() error
	// Close ends the subscription and closes C. It is idempotent and always
	// returns nil.
	Close() error
}

// ErrSlowSubscriber ends a subscription whose buffer overflowed.
var ErrSlowSubscriber = errors.New("bus: subscriber too slow, messages dropped")

// ErrClosed is returned by every call on a closed bus.
var ErrClosed = errors.New("bus: closed")

// SubscriptionBuffer is how many undelivered messages a subscription holds
// before it is ended with ErrSlowSubscriber.
const SubscriptionBuffer = 1024

// DefaultRedeliverAfter is how long a delivery may stay unacked before it is
// handed to a consumer again, when an implementation's options leave it zero.
const DefaultRedeliverAfter = 30 * time.Second

// CancelTopic carries cancel requests; the payload is the run id.
const CancelTopic = "cancel"

// LogTopic names the topic that carries a run's live log batches.
func LogTopic(runID string) string { return "logs:" + runID }
