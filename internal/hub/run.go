package hub

import "time"

// Run statuses.
const (
	RunPending  = "PENDING"
	RunRunning  = "RUNNING"
	RunSuccess  = "SUCCESS"
	RunFailed   = "FAILED"
	RunCanceled = "CANCELED"
)

// Trigger types and environments.
const (
	TriggerManual    = "MANUAL"
	TriggerScheduled = "SCHEDULED"
	TriggerRetry     = "RETRY"
)

// EnvNames are the environments a run may target.
var EnvNames = []string{"PROD", "HML", "TEST"}

// Log levels.
const (
	LevelInfo  = "INFO"
	LevelWarn  = "WARN"
	LevelError = "ERROR"
)

// Finished reports whether a status is final.
func Finished(status string) bool {
	return status == RunSuccess || status == RunFailed || status == RunCanceled
}

// Run is one execution of a robot version.
type Run struct {
	ID               string
	RobotID          string
	VersionID        string
	ServiceID        *string
	Status           string
	TriggerType      string
	Attempt          int
	EnvName          string
	Parameters       map[string]any // nil: not a portal run
	RuntimeArguments []string
	RuntimeEnv       map[string]string
	TimeoutSeconds   int
	QueuedAt         time.Time
	StartedAt        *time.Time
	FinishedAt       *time.Time
	DurationSeconds  *float64
	TriggeredBy      *string
	ErrorMessage     *string
	ExitCode         *int
	HostName         *string
	ProcessID        *int
	WorkerID         *string
	LeaseUntil       *time.Time
	CancelRequested  bool
	CanceledAt       *time.Time
	CanceledBy       *string
	// ScheduleID and ScheduledFor name the schedule and fire time a
	// SCHEDULED run (and its retries) came from.
	ScheduleID   *string
	ScheduledFor *time.Time
	// RetryOf is the failed run a RETRY run repeats.
	RetryOf *string
	// NotBefore holds a PENDING run back until then (retry backoff).
	NotBefore *time.Time
	// Priority orders PENDING runs competing for a worker or a limit:
	// higher first, then oldest first.
	Priority int
	// WaitingReason says why a PENDING run has not started ("pool
	// sap-licences is full (2/2)"); nil when nothing holds it back.
	WaitingReason *string
	// RetryCount and RetryBackoffSeconds are the run's retry policy: how
	// many times its chain may be retried after a failure, and the base
	// backoff (hub.RetryDelay).
	RetryCount          int
	RetryBackoffSeconds int

	// Joined for display.
	Version   *VersionSummary
	Service   *ServiceSummary
	Artifacts []Artifact
}

// VersionSummary is the part of a version shown with a run.
type VersionSummary struct {
	ID, Version, Channel, ArtifactType string
	ArtifactSHA256                     *string
}

// ServiceSummary is the part of a portal service shown with a run.
type ServiceSummary struct {
	ID, Title string
}

// LogLine is one line of a run's output or of the hub's messages about it.
type LogLine struct {
	RunID     string
	Seq       int64
	Timestamp time.Time
	Level     string
	Message   string
}

// Artifact is a file a run produced.
type Artifact struct {
	ID          string
	RunID       string
	Name        string
	Path        string // artifact store key
	Size        int64
	ContentType *string
	SHA256      *string
	CreatedAt   time.Time
}

// RunFilter narrows run lists.
type RunFilter struct {
	RobotID, ServiceID, Status, TriggerType string
	// ScheduleID keeps the runs of one schedule.
	ScheduleID string
	// Since and Until bound queued_at: Since inclusive, Until exclusive.
	Since, Until *time.Time
	Scope        RobotScope
	// NoTotal says the caller does not need ListInfo.Total (it is left 0).
	NoTotal bool
	Page
}

// RunResult is how a run ended, as the worker reports it.
type RunResult struct {
	Status       string
	ExitCode     *int
	ErrorMessage *string
	FinishedAt   time.Time
}

// RunStats summarises runs and workers for metrics and operations views.
type RunStats struct {
	ByStatus map[string]int64
	// Waiting counts PENDING runs held back, by kind of reason ("pool",
	// "robot_limit", "schedule_limit", "backoff").
	Waiting map[string]int64
	// Pools is the usage of every pool.
	Pools         []PoolUsage
	OldestPending float64 // seconds; 0 when none
	LogLines      int64   // log lines stored so far
	WorkersAlive  int64
	WorkersStale  int64
	// FailedLastHour counts runs that failed in the hour before now.
	FailedLastHour int64
}

// Worker states as the workers list shows them.
const (
	WorkerRunning = "RUNNING"
	// WorkerPaused is a worker an operator paused: it finishes its runs
	// and claims no new ones until resumed.
	WorkerPaused  = "PAUSED"
	WorkerStopped = "STOPPED"
)

// Worker is a worker process as its heartbeats describe it.
type Worker struct {
	ID, Hostname, Status string
	Version              *string
	Concurrency          int
	RunningRuns          int
	StartedAt            time.Time
	LastHeartbeat        time.Time
	CreatedAt            time.Time
	// Labels route runs: a run is claimed only by a worker that has every label its robot requires.
	Labels []string
}

// PoolUsage is how many of a pool's slots RUNNING runs hold.
type PoolUsage struct {
	Name            string
	InUse, Capacity int
}

// Kinds of reasons a PENDING run waits.
const (
	WaitPool          = "pool"
	WaitRobotLimit    = "robot_limit"
	WaitScheduleLimit = "schedule_limit"
	WaitBackoff       = "backoff"
	// WaitWorker: no online worker that may take the run (labels, pause)
	// has a free slot.
	WaitWorker = "worker"
)
