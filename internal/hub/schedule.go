package hub

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Overlap policies: what a schedule does when a fire comes while its
// previous runs still occupy every slot it allows (max_concurrency).
const (
	OverlapSkip           = "skip"
	OverlapQueue          = "queue"
	OverlapCancelPrevious = "cancel_previous"
)

// Catch-up policies: what a schedule does with the fires it missed while no
// scheduler was running.
const (
	CatchupLatest = "latest"
	CatchupNone   = "none"
	CatchupAll    = "all"
)

// Schedule fires runs of one robot on a cron timetable.
type Schedule struct {
	ID                  string
	RobotID             string
	Enabled             bool
	CronExpr            string
	Timezone            string
	WindowStart         *string // "HH:MM", local to Timezone
	WindowEnd           *string
	MaxConcurrency      int
	TimeoutSeconds      int
	RetryCount          int
	RetryBackoffSeconds int
	OverlapPolicy       string
	Catchup             string
	CatchupWindowSecs   int
	// NextFireAt is the next due instant; nil when the schedule never fires
	// again (its cron cannot meet its window).
	NextFireAt *time.Time
	LastFireAt *time.Time
	CreatedBy  *string
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// RobotName is joined for lists.
	RobotName string
}

// ScheduleLoad is how many of a schedule's runs are active when a fire
// comes: waiting (PENDING) and running.
type ScheduleLoad struct {
	Pending, Running int
}

// FireDecision is what a scheduler does with one due schedule: the next
// fire time to store (nil: never again), the fire time to record as the
// last one, the fire times to start runs for (oldest first), whether to
// cancel the schedule's active runs first (cancel_previous), and — when
// no run starts — why ("missed", "overlap", "queue_full").
type FireDecision struct {
	Next, LastFire *time.Time
	Fires          []time.Time
	CancelActive   bool
	Skipped        string
}

// FireOutcome says what became of one due schedule a scheduler claimed:
// the runs created (in fire order) with their fire times, and, when none
// was, why ("missed", "overlap", "queue_full", "no_version").
type FireOutcome struct {
	ScheduleID string
	RobotID    string
	Due        time.Time
	RunIDs     []string
	FireTimes  []time.Time
	Skipped    string
	// Canceled lists RUNNING runs asked to stop (cancel_previous).
	Canceled []string
}

// Pool is a named number of slots shared fleet-wide by the runs of the
// robots that need it (a licensed application, a desktop, a bank portal).
type Pool struct {
	ID          string
	Name        string
	Capacity    int
	Description *string
	CreatedBy   *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// InUse is how many RUNNING runs hold the pool now; Robots names the
	// robots that need it.
	InUse  int
	Robots []string
}

// RunSettings are a robot's defaults for its runs.
type RunSettings struct {
	// MaxConcurrentRuns caps the robot's RUNNING runs fleet-wide; nil: no cap.
	MaxConcurrentRuns   *int
	RetryCount          int
	RetryBackoffSeconds int
	// Pools are the names of the pools every run of the robot needs, sorted.
	Pools []string
	// RequiredLabels are the labels a worker needs to claim the robot's
	// runs, sorted; empty: any worker.
	RequiredLabels []string
}

// Bounds of retry policies.
const (
	MaxRetryCount          = 10
	MaxRetryBackoffSeconds = 3600
	// RetryBackoffCap bounds the exponential backoff of one retry.
	RetryBackoffCap = 6 * time.Hour
)

// RetryDelay is how long the retry that will be attempt next waits after
// its predecessor failed: base × 2^(next−2) (the first retry waits base),
// capped at RetryBackoffCap (or base, when base is larger), plus under 10 %
// random jitter so that retries failed together do not start together. It
// is never shorter than the capped exponential value.
func RetryDelay(base time.Duration, next int) time.Duration {
	if base < time.Second {
		base = time.Second
	}
	d := base
	for i := 2; i < next && d < RetryBackoffCap; i++ {
		d *= 2
	}
	if d > max(RetryBackoffCap, base) {
		d = max(RetryBackoffCap, base)
	}
	if j := int64(d / 10); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return d.Truncate(time.Millisecond)
}

// RetryLine is the line written to a failed run's log when a retry is
// scheduled, in the previous backend's words.
func RetryLine(attempt int, backoff time.Duration, runID string) string {
	return "Retry scheduled: attempt=" + strconv.Itoa(attempt) + " backoff=" + strconv.Itoa(int(backoff/time.Second)) + "s run_id=" + runID
}
