package schedule

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"automationhub/internal/hub"
)

// Signals is the part of the bus the scheduler uses: ready signals for the
// runs it creates, and stop requests for runs cancel_previous ends.
type Signals interface {
	Enqueue(ctx context.Context, runID string) error
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Observer records what the scheduler does (metrics); may be nil.
type Observer interface {
	// Fired records a run started lag after its fire time.
	Fired(lag time.Duration)
	// Skipped records a due fire that started no run, and why.
	Skipped(reason string)
}

// SchedulerConfig tunes a Scheduler.
type SchedulerConfig struct {
	// Poll is the longest the scheduler sleeps between looks at the
	// schedules (default 2 s): a schedule changed by another process is
	// seen within it.
	Poll time.Duration
	// Batch is how many due schedules one transaction claims (default 500).
	Batch int
	// Parallel is how many transactions a pass runs at once (default 1).
	// On PostgreSQL they claim different schedules (SKIP LOCKED); on SQLite,
	// whose writer is alone, more than one only waits.
	Parallel int
	// CancelTopic is the bus topic of stop requests (bus.CancelTopic).
	CancelTopic string
	Clock       hub.Clock
	Logger      *slog.Logger
	Observer    Observer
	// Sleep waits until the given time or until ctx or wake ends the wait
	// (default: a timer); tests with a fake clock replace it.
	Sleep func(ctx context.Context, until time.Time, wake <-chan struct{})
}

// Scheduler fires due schedules. Several may run against one database (one
// per hub serve process): each fire is claimed by exactly one of them, in
// the transaction that creates its run.
//
// Start launches one goroutine, which exits when Stop is called or the
// context of Start ends. It sleeps until the earliest next fire time (at
// most Poll), claims the due schedules in batches, signals the runs it
// created, and sleeps again.
type Scheduler struct {
	store Store
	bus   Signals
	cfg   SchedulerConfig
	clock hub.Clock
	log   *slog.Logger

	wake   chan struct{}
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewScheduler returns a scheduler.
func NewScheduler(store Store, signals Signals, cfg SchedulerConfig) *Scheduler {
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.CancelTopic == "" {
		cfg.CancelTopic = "cancel"
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepUntil
	}
	return &Scheduler{store: store, bus: signals, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, wake: make(chan struct{}, 1)}
}

// sleepUntil waits on the wall clock.
func sleepUntil(ctx context.Context, until time.Time, wake <-chan struct{}) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// Wake makes the scheduler look at the schedules now (a schedule of this
// process changed). It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start launches the loop; calling it twice is a no-op.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return nil
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
	return nil
}

// Stop ends the loop and waits for it (a pass in progress finishes its
// transaction first); safe before Start and more than once.
func (s *Scheduler) Stop(context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

func (s *Scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "scheduler pass failed", "error", err.Error())
		}
		now := s.clock.Now()
		until := now.Add(s.cfg.Poll)
		if next, err := s.store.NextScheduleDue(ctx); err == nil && next != nil && next.Before(until) {
			until = *next
		}
		s.cfg.Sleep(ctx, until, s.wake)
	}
}

// maxDuePerPass bounds the schedules one look at the due list reads; a
// pass looks again while it comes back full.
const maxDuePerPass = 50000

// Pass fires every schedule due now and returns how many runs it created:
// it lists the due schedules, then claims them in batches of Batch, Parallel
// transactions at a time. A batch another scheduler took in the meantime
// simply yields fewer runs here.
func (s *Scheduler) Pass(ctx context.Context) (int, error) {
	created := 0
	for {
		now := s.clock.Now()
		ids, err := s.store.DueSchedules(ctx, now, maxDuePerPass)
		if err != nil || len(ids) == 0 {
			return created, err
		}
		batches := make(chan []string, len(ids)/s.cfg.Batch+1)
		for chunk := range slices.Chunk(ids, s.cfg.Batch) {
			batches <- chunk
		}
		close(batches)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
		)
		for range min(s.cfg.Parallel, len(batches)) {
			wg.Go(func() {
				for chunk := range batches {
					n, err := s.fire(ctx, chunk, now)
					mu.Lock()
					created += n
					if err != nil && first == nil {
						first = err
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		if first != nil || len(ids) < maxDuePerPass {
			return created, first
		}
	}
}

// fire claims one batch of due schedules and signals the runs it created.
func (s *Scheduler) fire(ctx context.Context, ids []string, now time.Time) (int, error) {
	out, err := s.store.FireSchedules(ctx, ids, now, func(sc *hub.Schedule, load hub.ScheduleLoad) hub.FireDecision {
		return Decide(sc, load, now)
	})
	if err != nil {
		return 0, err
	}
	created := 0
	done := s.clock.Now()
	for _, o := range out {
		for i, id := range o.RunIDs {
			created++
			if s.cfg.Observer != nil {
				s.cfg.Observer.Fired(done.Sub(o.FireTimes[i]))
			}
			if err := s.bus.Enqueue(ctx, id); err != nil {
				s.log.WarnContext(ctx, "scheduled run queued but its ready signal failed; the reconciler will resend it", "run_id", id, "error", err.Error())
			}
		}
		for _, id := range o.Canceled {
			_ = s.bus.Publish(ctx, s.cfg.CancelTopic, []byte(id))
		}
		if o.Skipped != "" {
			if s.cfg.Observer != nil {
				s.cfg.Observer.Skipped(o.Skipped)
			}
			level := slog.LevelDebug
			if o.Skipped == "no_version" || o.Skipped == "invalid" {
				level = slog.LevelWarn
			}
			s.log.Log(ctx, level, "scheduled fire started no run", "schedule_id", o.ScheduleID, "robot_id", o.RobotID,
				"due", o.Due, "reason", o.Skipped)
		}
	}
	return created, nil
}

// Decide applies a schedule's catch-up and overlap policies to a due fire:
// which fire times start runs, what to cancel first, and the next fire
// time. load counts the schedule's runs that are still active.
//
//   - skip (default): start runs only while fewer than max_concurrency of
//     the schedule's runs are active; otherwise the fire is skipped.
//   - queue: start the run even then; it waits (PENDING, "schedule limit
//     reached") until a slot frees. At most max_concurrency runs wait;
//     fires beyond that are skipped.
//   - cancel_previous: cancel the schedule's active runs (stop the running
//     ones) and start the new run.
func Decide(sc *hub.Schedule, load hub.ScheduleLoad, now time.Time) hub.FireDecision {
	spec, err := cachedSpec(sc.CronExpr, sc.Timezone, sc.WindowStart, sc.WindowEnd)
	if err != nil || sc.NextFireAt == nil {
		// A schedule stored before a rule it now breaks: stop firing it.
		return hub.FireDecision{Skipped: "invalid"}
	}
	fires, next := Plan(spec, sc.Catchup, time.Duration(sc.CatchupWindowSecs)*time.Second, *sc.NextFireAt, now)
	d := hub.FireDecision{Next: next}
	if len(fires) == 0 {
		d.Skipped = "missed"
		return d
	}
	last := fires[len(fires)-1]
	d.LastFire = &last
	active := load.Pending + load.Running
	keep := len(fires)
	switch sc.OverlapPolicy {
	case hub.OverlapQueue:
		keep = min(keep, max(0, 2*sc.MaxConcurrency-active))
		if keep == 0 {
			d.Skipped = "queue_full"
		}
	case hub.OverlapCancelPrevious:
		keep = min(keep, sc.MaxConcurrency)
		d.CancelActive = active > 0
	default:
		keep = min(keep, max(0, sc.MaxConcurrency-active))
		if keep == 0 {
			d.Skipped = "overlap"
		}
	}
	d.Fires = fires[len(fires)-keep:]
	return d
}
