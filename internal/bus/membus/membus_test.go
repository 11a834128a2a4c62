package membus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"automationhub/internal/bus"
	"automationhub/internal/bus/bustest"
	"automationhub/internal/bus/membus"
	"automationhub/internal/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

func newBus(t *testing.T) bus.Bus {
	return membus.New(membus.Options{RedeliverAfter: bustest.RedeliverAfter})
}

func TestConformance(t *testing.T) {
	bustest.Run(t, newBus)
}

// TestPublishCopiesPayload checks that a publisher may reuse its buffer once
// Publish returns.
func TestPublishCopiesPayload(t *testing.T) {
	b := newBus(t)
	defer b.Close()
	s, err := b.Subscribe(t.Context(), "t")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	buf := []byte("first")
	if err := b.Publish(t.Context(), "t", buf); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	copy(buf, "XXXXX")
	if got := string(<-s.C()); got != "first" {
		t.Fatalf("got %q, want %q", got, "first")
	}
}

// TestRedeliveryOrder checks that overdue deliveries come back oldest first and
// before new signals.
func TestRedeliveryOrder(t *testing.T) {
	b := membus.New(membus.Options{RedeliverAfter: 50 * time.Millisecond})
	defer b.Close()
	ctx := t.Context()
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := b.Enqueue(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := b.Dequeue(ctx, "crashy"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(60 * time.Millisecond)
	var got []string
	for range 3 {
		d, err := b.Dequeue(ctx, "healthy")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.RunID)
		if err := b.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if want := "[r1 r2 r3]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestDefaultRedeliverAfter checks the zero option means the default: an
// unacked delivery is not handed out again right away.
func TestDefaultRedeliverAfter(t *testing.T) {
	b := membus.New(membus.Options{})
	defer b.Close()
	if err := b.Enqueue(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dequeue(t.Context(), "w1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := b.Dequeue(ctx, "w2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dequeue = %v, want context.DeadlineExceeded", err)
	}
}

// TestStress runs producers, consumers, publishers, subscribers and closes
// together under the race detector.
func TestStress(t *testing.T) {
	b := membus.New(membus.Options{RedeliverAfter: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { // producer: exits when ctx ends
			for j := 0; ctx.Err() == nil; j++ {
				_ = b.Enqueue(ctx, fmt.Sprintf("r%d-%d", i, j))
				_ = b.Publish(ctx, "t", []byte("x"))
			}
		})
		wg.Go(func() { // consumer: exits when ctx ends
			for {
				d, err := b.Dequeue(ctx, fmt.Sprintf("w%d", i))
				if err != nil {
					return
				}
				if i%2 == 0 { // odd consumers "crash" and leave redelivery to others
					_ = b.Ack(ctx, d)
				}
			}
		})
		wg.Go(func() { // subscriber: exits when ctx ends
			for ctx.Err() == nil {
				s, err := b.Subscribe(ctx, "t")
				if err != nil {
					return
				}
			read:
				for range 10 {
					select {
					case _, ok := <-s.C():
						if !ok {
							break read
						}
					case <-ctx.Done():
						break read
					}
				}
				_ = s.Close()
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}
