package alert

import (
	"context"
	"log/slog"
	"sync"
)

// loop runs a pass again and again in a goroutine until stopped: the
// monitor's and the notifier's background work.
type loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// start launches pass in a loop (what names it in the log), waiting with
// wait after each pass; calling it twice is a no-op.
func (l *loop) start(ctx context.Context, log *slog.Logger, what string, pass func(context.Context) error, wait func(context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			if err := pass(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, what+" failed", "error", err.Error())
			}
			wait(ctx)
		}
	}()
}

// stop ends the loop and waits for it; safe before start and more than once.
func (l *loop) stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
