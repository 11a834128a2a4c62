package hub

import "time"

// Alert types. LATE and FAILURE_STREAK are the previous backend's; the
// others are the hub's own.
const (
	AlertLate           = "LATE"
	AlertFailureStreak  = "FAILURE_STREAK"
	AlertFailed         = "FAILED"
	AlertRunningTooLong = "RUNNING_TOO_LONG"
	AlertScheduleMissed = "SCHEDULE_MISSED"
	AlertQueueBacklog   = "QUEUE_BACKLOG"
	AlertWorkerDown     = "WORKER_DOWN"
)

// AlertTypes lists every alert type, in the order pages show them.
var AlertTypes = []string{AlertFailed, AlertFailureStreak, AlertLate, AlertRunningTooLong, AlertScheduleMissed, AlertQueueBacklog, AlertWorkerDown}

// Alert severities.
const (
	SeverityInfo     = "INFO"
	SeverityWarn     = "WARN"
	SeverityCritical = "CRITICAL"
)

// SLARule says how often a robot is expected to run and what to report
// about it (one per robot).
type SLARule struct {
	ID                      string
	RobotID                 string
	ExpectedRunEveryMinutes *int
	ExpectedDailyTime       *string // "HH:MM"
	LateAfterMinutes        int
	AlertOnFailure          bool
	AlertOnLate             bool
	// MaxRunMinutes raises RUNNING_TOO_LONG for a run running longer; nil: never.
	MaxRunMinutes *int
	Channels      NotifyChannels
	CreatedBy     *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// NotifyChannels are where an alert's notices go (notify_channels_json).
type NotifyChannels struct {
	Webhook []string `json:"webhook,omitempty"`
	Teams   []string `json:"teams,omitempty"`
	Slack   []string `json:"slack,omitempty"`
	Email   []string `json:"email,omitempty"`
}

// Notification channel names.
const (
	ChannelWebhook = "webhook"
	ChannelTeams   = "teams"
	ChannelSlack   = "slack"
	ChannelEmail   = "email"
)

// Targets lists every (channel, target) pair once.
func (c NotifyChannels) Targets() [][2]string {
	var out [][2]string
	seen := map[[2]string]bool{}
	add := func(ch string, list []string) {
		for _, t := range list {
			k := [2]string{ch, t}
			if t != "" && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	add(ChannelWebhook, c.Webhook)
	add(ChannelTeams, c.Teams)
	add(ChannelSlack, c.Slack)
	add(ChannelEmail, c.Email)
	return out
}

// Alert is one breach of a rule: raised once when it is seen, resolved by
// hand or when its condition clears.
type Alert struct {
	ID       string
	RobotID  *string // nil for system alerts (queue, workers)
	RunID    *string
	Type     string
	Severity string
	// Subject names what broke: a robot, worker or schedule id; "" for the queue.
	Subject    string
	Message    string
	Metadata   map[string]any
	CreatedAt  time.Time
	ResolvedAt *time.Time
	ResolvedBy *string
	// BreachEndedAt is when the condition cleared; nil while it lasts.
	BreachEndedAt *time.Time

	// RobotName is joined for lists ("" for system alerts).
	RobotName string
}

// Breach is a condition a monitor sees now, keyed by type and subject.
type Breach struct {
	Type     string
	Subject  string
	RobotID  *string
	RunID    *string
	Severity string
	Message  string
	Metadata map[string]any
	// Targets are the (channel, target) pairs its notices go to.
	Targets [][2]string
}

// AlertKey identifies an ongoing breach.
type AlertKey struct{ Type, Subject string }

// AlertFilter selects alerts for a list.
type AlertFilter struct {
	Status  string // "open", "resolved" or ""
	Type    string
	RobotID string
	// Scope limits the list to these robots; alerts without a robot are
	// listed only when it is All.
	Scope RobotScope
	Limit int
}

// Notification states.
const (
	NotifyPending = "PENDING"
	NotifySent    = "SENT"
	NotifyFailed  = "FAILED"
)

// Notice events.
const (
	NoticeRaised   = "raised"
	NoticeResolved = "resolved"
)

// Notification is one notice to one channel target, kept in the outbox
// until delivered or given up.
type Notification struct {
	ID            string
	AlertID       string
	Event         string
	Channel       string
	Target        string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        *time.Time

	// Alert is joined for delivery and lists.
	Alert *Alert
}

// SLAState is what the monitor reads about one robot with an SLA rule.
type SLAState struct {
	Rule      SLARule
	RobotName string
	// LastQueuedAt is the newest run's queued_at (any status); nil: no run.
	LastQueuedAt *time.Time
	// Recent are the newest finished (SUCCESS/FAILED) runs, newest first.
	Recent []RunOutcome
	// LongRunning is the oldest RUNNING run that started before the rule's
	// maximum, if any.
	LongRunning *RunOutcome
	// Timezone is the robot's schedule time zone ("" when it has none).
	Timezone string
}

// RunOutcome is a run as failure rules see it.
type RunOutcome struct {
	RunID        string
	Status       string
	QueuedAt     time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	ErrorMessage *string
}

// ScheduleState is what the monitor reads about one enabled schedule.
type ScheduleState struct {
	ScheduleID  string
	RobotID     string
	RobotName   string
	CronExpr    string
	Timezone    string
	WindowStart *string
	WindowEnd   *string
	NextFireAt  *time.Time
	LastFireAt  *time.Time
	UpdatedAt   time.Time
}

// WorkerState is a worker as the monitor sees it.
type WorkerState struct {
	ID            string
	Hostname      string
	Status        string
	RunningRuns   int
	LastHeartbeat time.Time
}

// BreachChanges are what one monitor pass did: the alerts it raised and
// the open ones it resolved because their condition cleared.
type BreachChanges struct {
	Raised, Resolved []Alert
}
