package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/alert"
	"automationhub/internal/hub"
	"automationhub/internal/stats"
)

// Alerts is what the SLA, alert and notification endpoints need.
type Alerts interface {
	CreateRule(ctx context.Context, p *hub.Principal, robotID string, in alert.RuleInput) (*hub.SLARule, error)
	GetRule(ctx context.Context, p *hub.Principal, robotID string) (*hub.SLARule, error)
	UpdateRule(ctx context.Context, p *hub.Principal, robotID string, in alert.RuleInput) (*hub.SLARule, error)
	ListAlerts(ctx context.Context, p *hub.Principal, f hub.AlertFilter) ([]hub.Alert, error)
	Resolve(ctx context.Context, p *hub.Principal, alertID string) (*hub.Alert, error)
	DefaultChannels(ctx context.Context, p *hub.Principal) (hub.NotifyChannels, error)
	SetDefaultChannels(ctx context.Context, p *hub.Principal, raw json.RawMessage) (hub.NotifyChannels, error)
	Notifications(ctx context.Context, p *hub.Principal, status string, limit int) ([]hub.Notification, error)
	WebhookSecret(p *hub.Principal, url string) (string, error)
}

// Stats is what the dashboard endpoints need.
type Stats interface {
	Overview(ctx context.Context, p *hub.Principal) (*stats.Overview, error)
	Robots(ctx context.Context, p *hub.Principal, days int) ([]stats.Figures, error)
	Services(ctx context.Context, p *hub.Principal, days int) ([]stats.Figures, error)
	Daily(ctx context.Context, p *hub.Principal, days int) ([]stats.Day, error)
	Failures(ctx context.Context, p *hub.Principal, days, limit int) ([]stats.Failure, error)
}

// SLARuleRead is a robot's SLA rule (the previous backend's SlaRuleRead,
// plus max_run_minutes).
type SLARuleRead struct {
	ID                      string             `json:"id" format:"uuid"`
	RobotID                 string             `json:"robot_id" format:"uuid"`
	ExpectedRunEveryMinutes *int               `json:"expected_run_every_minutes"`
	ExpectedDailyTime       *string            `json:"expected_daily_time"`
	LateAfterMinutes        int                `json:"late_after_minutes"`
	AlertOnFailure          bool               `json:"alert_on_failure"`
	AlertOnLate             bool               `json:"alert_on_late"`
	NotifyChannels          hub.NotifyChannels `json:"notify_channels_json"`
	CreatedBy               *string            `json:"created_by"`
	CreatedAt               time.Time          `json:"created_at"`
	UpdatedAt               time.Time          `json:"updated_at"`
	MaxRunMinutes           *int               `json:"max_run_minutes" doc:"A run RUNNING longer raises RUNNING_TOO_LONG; null: never."`
}

func slaRead(r *hub.SLARule) SLARuleRead {
	return SLARuleRead{ID: r.ID, RobotID: r.RobotID, ExpectedRunEveryMinutes: r.ExpectedRunEveryMinutes, ExpectedDailyTime: r.ExpectedDailyTime,
		LateAfterMinutes: r.LateAfterMinutes, AlertOnFailure: r.AlertOnFailure, AlertOnLate: r.AlertOnLate, NotifyChannels: r.Channels,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, MaxRunMinutes: r.MaxRunMinutes}
}

// AlertRead is an alert (the previous backend's AlertEventRead, plus what
// this hub knows more).
type AlertRead struct {
	ID            string         `json:"id" format:"uuid"`
	RobotID       *string        `json:"robot_id" doc:"null for alerts about the queue or a worker."`
	RunID         *string        `json:"run_id"`
	Type          string         `json:"type" enum:"LATE,FAILURE_STREAK,FAILED,RUNNING_TOO_LONG,SCHEDULE_MISSED,QUEUE_BACKLOG,WORKER_DOWN"`
	Severity      string         `json:"severity" enum:"INFO,WARN,CRITICAL"`
	Message       string         `json:"message"`
	Metadata      map[string]any `json:"metadata_json"`
	CreatedAt     time.Time      `json:"created_at"`
	ResolvedAt    *time.Time     `json:"resolved_at"`
	ResolvedBy    *string        `json:"resolved_by" doc:"Who resolved it by hand; null when its condition cleared."`
	BreachEndedAt *time.Time     `json:"breach_ended_at" doc:"When the condition cleared; null while it lasts."`
	Subject       string         `json:"subject" doc:"What broke: robot, schedule or worker id; empty for the queue."`
	RobotName     string         `json:"robot_name"`
}

// alertRead converts an alert for the API.
func alertRead(a *hub.Alert) AlertRead {
	return AlertRead{ID: a.ID, RobotID: a.RobotID, RunID: a.RunID, Type: a.Type, Severity: a.Severity, Message: a.Message, Metadata: a.Metadata,
		CreatedAt: a.CreatedAt, ResolvedAt: a.ResolvedAt, ResolvedBy: a.ResolvedBy, BreachEndedAt: a.BreachEndedAt, Subject: a.Subject,
		RobotName: a.RobotName}
}

// NotificationRead is one notice in the outbox.
type NotificationRead struct {
	ID            string     `json:"id" format:"uuid"`
	AlertID       string     `json:"alert_id" format:"uuid"`
	AlertType     string     `json:"alert_type"`
	Event         string     `json:"event" enum:"raised,resolved"`
	Channel       string     `json:"channel" enum:"webhook,teams,slack,email"`
	Target        string     `json:"target"`
	Status        string     `json:"status" enum:"PENDING,SENT,FAILED"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     *string    `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
}

// slaBody is the body of SLA rule create and change.
type slaBody struct {
	ExpectedRunEveryMinutes *int           `json:"expected_run_every_minutes,omitempty" nullable:"true" minimum:"1" maximum:"10080"`
	ExpectedDailyTime       *string        `json:"expected_daily_time,omitempty" nullable:"true" pattern:"^([01]\\d|2[0-3]):[0-5]\\d$" doc:"HH:MM in the robot's schedule time zone (else APP_TIMEZONE)."`
	LateAfterMinutes        *int           `json:"late_after_minutes,omitempty" minimum:"1" maximum:"720" doc:"Default 15."`
	AlertOnFailure          *bool          `json:"alert_on_failure,omitempty" doc:"Raise FAILED and FAILURE_STREAK; default true."`
	AlertOnLate             *bool          `json:"alert_on_late,omitempty" doc:"Raise LATE; default true."`
	MaxRunMinutes           *int           `json:"max_run_minutes,omitempty" nullable:"true" minimum:"1" maximum:"10080" doc:"Raise RUNNING_TOO_LONG for a run running longer."`
	NotifyChannels          map[string]any `json:"notify_channels_json,omitempty" doc:"{\"webhook\": [urls], \"teams\": [urls], \"slack\": [urls], \"email\": [addresses]}; default {}."`
}

func (b slaBody) input(raw []byte) (alert.RuleInput, error) {
	in := alert.RuleInput{ExpectedRunEveryMinutes: b.ExpectedRunEveryMinutes, ExpectedDailyTime: b.ExpectedDailyTime,
		LateAfterMinutes: b.LateAfterMinutes, AlertOnFailure: b.AlertOnFailure, AlertOnLate: b.AlertOnLate, MaxRunMinutes: b.MaxRunMinutes,
		Present: map[string]bool{}}
	if b.NotifyChannels != nil {
		in.Channels, _ = json.Marshal(b.NotifyChannels)
	}
	if raw != nil {
		var present map[string]json.RawMessage
		if err := json.Unmarshal(raw, &present); err != nil {
			return in, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
		}
		for k := range present {
			in.Present[k] = true
		}
	}
	return in, nil
}

const (
	tagAlerts = "Alerts"
	tagStats  = "Dashboard"
)

func (s *Server) registerAlertRoutes() {
	type slaOutput struct {
		Body SLARuleRead
	}
	type createInput struct {
		RobotID string `path:"robot_id"`
		Body    slaBody
	}
	register(s, protect(huma.Operation{
		OperationID: "create-sla", Method: http.MethodPost, Path: APIPrefix + "/robots/{robot_id}/sla", Tags: []string{tagAlerts},
		Summary: "Give a robot its SLA rule", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *createInput) (*slaOutput, error) {
		ri, _ := in.Body.input(nil)
		r, err := s.alerts.CreateRule(ctx, principalFrom(ctx), in.RobotID, ri)
		if err != nil {
			if hub.ErrorKind(err) == hub.EUnprocessable && hub.ErrorMessage(err) == alert.MsgExpectedRequired {
				return nil, &ErrorBody{status: http.StatusUnprocessableEntity, Detail: []ValidationItem{{Type: "value_error", Loc: []string{"body"},
					Msg: alert.MsgExpectedRequired, Input: nil}}}
			}
			return nil, err
		}
		return &slaOutput{Body: slaRead(r)}, nil
	})
	register(s, protect(huma.Operation{
		OperationID: "get-sla", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}/sla", Tags: []string{tagAlerts},
		Summary: "A robot's SLA rule", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *robotPath) (*slaOutput, error) {
		r, err := s.alerts.GetRule(ctx, principalFrom(ctx), in.RobotID)
		if err != nil {
			return nil, err
		}
		return &slaOutput{Body: slaRead(r)}, nil
	})
	type patchInput struct {
		RobotID string `path:"robot_id"`
		RawBody []byte
		Body    slaBody
	}
	register(s, protect(huma.Operation{
		OperationID: "update-sla", Method: http.MethodPatch, Path: APIPrefix + "/robots/{robot_id}/sla", Tags: []string{tagAlerts},
		Summary:     "Change a robot's SLA rule (only the fields sent)",
		Description: "The merged rule needs expected_run_every_minutes or expected_daily_time (400). null clears the expected_* fields and max_run_minutes; it is refused for the others.",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *patchInput) (*slaOutput, error) {
		ri, err := in.Body.input(in.RawBody)
		if err != nil {
			return nil, err
		}
		r, err := s.alerts.UpdateRule(ctx, principalFrom(ctx), in.RobotID, ri)
		if err != nil {
			return nil, err
		}
		return &slaOutput{Body: slaRead(r)}, nil
	})

	type listInput struct {
		Status  string `query:"status" enum:"open,resolved," doc:"open (not resolved) or resolved; empty: both."`
		Type    string `query:"type" maxLength:"40" doc:"Exact alert type."`
		RobotID string `query:"robot_id" doc:"Robot id (UUID)."`
		Limit   int    `query:"limit" minimum:"1" maximum:"1000" default:"200"`
	}
	type listOutput struct {
		Body []AlertRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-alerts", Method: http.MethodGet, Path: APIPrefix + "/alerts", Tags: []string{tagAlerts},
		Summary:     "Alerts, newest first",
		Description: "Only alerts of robots whose runs the caller may read; alerts about the queue and workers need run.read on every robot.",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *listInput) (*listOutput, error) {
		list, err := s.alerts.ListAlerts(ctx, principalFrom(ctx), hub.AlertFilter{Status: in.Status, Type: in.Type, RobotID: in.RobotID, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &listOutput{Body: make([]AlertRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, alertRead(&list[i]))
		}
		return out, nil
	})
	type resolveInput struct {
		AlertID string `path:"alert_id"`
	}
	type alertOutput struct {
		Body AlertRead
	}
	register(s, protect(huma.Operation{
		OperationID: "resolve-alert", Method: http.MethodPost, Path: APIPrefix + "/alerts/{alert_id}/resolve", Tags: []string{tagAlerts},
		Summary:     "Resolve an alert by hand",
		Description: "Idempotent. While its condition lasts the alert is not raised again; once it clears, a new breach raises a new alert.",
		Errors:      []int{http.StatusNotFound},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *resolveInput) (*alertOutput, error) {
		a, err := s.alerts.Resolve(ctx, principalFrom(ctx), in.AlertID)
		if err != nil {
			return nil, err
		}
		return &alertOutput{Body: alertRead(a)}, nil
	})

	type channelsOutput struct {
		Body hub.NotifyChannels
	}
	register(s, protect(huma.Operation{
		OperationID: "get-alert-channels", Method: http.MethodGet, Path: APIPrefix + "/alerts/channels", Tags: []string{tagAlerts},
		Summary: "Default notification channels (every alert's notices go there besides its rule's)",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, _ *struct{}) (*channelsOutput, error) {
		c, err := s.alerts.DefaultChannels(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		return &channelsOutput{Body: c}, nil
	})
	type putChannels struct {
		RawBody []byte
	}
	register(s, protect(huma.Operation{
		OperationID: "set-alert-channels", Method: http.MethodPut, Path: APIPrefix + "/alerts/channels", Tags: []string{tagAlerts},
		Summary:     "Replace the default notification channels",
		Description: "Body as notify_channels_json: {\"webhook\": [urls], \"teams\": [urls], \"slack\": [urls], \"email\": [addresses]}.",
		Errors:      []int{http.StatusBadRequest},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: "object"}}}},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *putChannels) (*channelsOutput, error) {
		c, err := s.alerts.SetDefaultChannels(ctx, principalFrom(ctx), in.RawBody)
		if err != nil {
			return nil, err
		}
		return &channelsOutput{Body: c}, nil
	})
	type secretInput struct {
		URL string `query:"url" required:"true" maxLength:"2000" doc:"The webhook URL, exactly as in notify_channels_json."`
	}
	type secretOutput struct {
		Body struct {
			URL     string `json:"url"`
			Secret  string `json:"secret" doc:"HMAC-SHA256 key of the X-Hub-Signature-256 header (sha256=<hex of the body's HMAC>)."`
			Header  string `json:"header"`
			Example string `json:"example"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "get-webhook-secret", Method: http.MethodGet, Path: APIPrefix + "/alerts/webhook-secret", Tags: []string{tagAlerts},
		Summary:     "The signing secret of one webhook URL",
		Description: "Every webhook URL has its own secret, derived from the hub's SECRET_KEY; the receiver checks X-Hub-Signature-256.",
		Errors:      []int{http.StatusBadRequest},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *secretInput) (*secretOutput, error) {
		sec, err := s.alerts.WebhookSecret(principalFrom(ctx), in.URL)
		if err != nil {
			return nil, err
		}
		out := &secretOutput{}
		out.Body.URL, out.Body.Secret, out.Body.Header = in.URL, sec, alert.SignatureHeader
		out.Body.Example = "sha256=" + "<hex(HMAC-SHA256(secret, raw body))>"
		return out, nil
	})
	type notifInput struct {
		Status string `query:"status" enum:"PENDING,SENT,FAILED,"`
		Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"200"`
	}
	type notifOutput struct {
		Body []NotificationRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-notifications", Method: http.MethodGet, Path: APIPrefix + "/notifications", Tags: []string{tagAlerts},
		Summary: "Notification outbox, newest first (delivery state, attempts, last error)",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *notifInput) (*notifOutput, error) {
		list, err := s.alerts.Notifications(ctx, principalFrom(ctx), in.Status, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &notifOutput{Body: make([]NotificationRead, 0, len(list))}
		for _, n := range list {
			out.Body = append(out.Body, NotificationRead{ID: n.ID, AlertID: n.AlertID, AlertType: n.Alert.Type, Event: n.Event, Channel: n.Channel,
				Target: n.Target, Status: n.Status, Attempts: n.Attempts, NextAttemptAt: n.NextAttemptAt, LastError: n.LastError,
				CreatedAt: n.CreatedAt, SentAt: n.SentAt})
		}
		return out, nil
	})
	s.registerStatsRoutes()
}

// OverviewRead is the dashboard's head figures.
type OverviewRead struct {
	Day                  string           `json:"day" doc:"Today in the hub's time zone (APP_TIMEZONE)."`
	RunsToday            int64            `json:"runs_today" doc:"Runs queued today."`
	SuccessToday         int64            `json:"success_today"`
	FailedToday          int64            `json:"failed_today"`
	SuccessRate          *float64         `json:"success_rate" doc:"Of the runs finished today (SUCCESS / SUCCESS+FAILED); null without any."`
	OpenAlerts           int64            `json:"open_alerts"`
	OpenAlertsByType     map[string]int64 `json:"open_alerts_by_type"`
	RunningNow           int64            `json:"running_now"`
	PendingNow           int64            `json:"pending_now"`
	OldestWaitingSince   *time.Time       `json:"oldest_waiting_since" doc:"Since when the oldest waiting run waits (null: none, or not every robot is visible to the caller)."`
	OldestWaitingSeconds *int64           `json:"oldest_waiting_seconds"`
	OldestWaitingRunID   *string          `json:"oldest_waiting_run_id"`
}

// FiguresRead is a robot's or service's figures over a window.
type FiguresRead struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	RobotID     string    `json:"robot_id"`
	Runs        int64     `json:"runs" doc:"Finished runs."`
	Success     int64     `json:"success"`
	Failed      int64     `json:"failed"`
	Canceled    int64     `json:"canceled"`
	SuccessRate *float64  `json:"success_rate"`
	P50Seconds  *float64  `json:"p50_seconds" doc:"Median duration (estimated from a histogram)."`
	P90Seconds  *float64  `json:"p90_seconds"`
	Daily       []DayRead `json:"daily"`
}

// DayRead is one day's finished runs.
type DayRead struct {
	Day      string `json:"day"`
	Success  int64  `json:"success"`
	Failed   int64  `json:"failed"`
	Canceled int64  `json:"canceled"`
}

// FailureRead is failed runs sharing an error message.
type FailureRead struct {
	ErrorMessage string   `json:"error_message"`
	Count        int64    `json:"count"`
	Robots       []string `json:"robots"`
	LastSeen     string   `json:"last_seen"`
}

// OverviewFrom converts the head figures for the API (also used by the web UI).
func OverviewFrom(o *stats.Overview, now time.Time) OverviewRead {
	out := OverviewRead{Day: o.Day, RunsToday: o.RunsToday, SuccessToday: o.SuccessToday, FailedToday: o.FailedToday, SuccessRate: o.SuccessRate,
		OpenAlerts: o.OpenAlerts, OpenAlertsByType: o.OpenByType, RunningNow: o.RunningNow, PendingNow: o.PendingNow, OldestWaitingSince: o.OldestWaiting}
	if o.OldestWaiting != nil {
		sec := int64(now.Sub(*o.OldestWaiting).Seconds())
		id := o.OldestWaitingID
		out.OldestWaitingSeconds, out.OldestWaitingRunID = &sec, &id
	}
	return out
}

func daysRead(d []stats.Day) []DayRead {
	out := make([]DayRead, len(d))
	for i, x := range d {
		out[i] = DayRead{Day: x.Day, Success: x.Success, Failed: x.Failed, Canceled: x.Canceled}
	}
	return out
}

func figuresRead(list []stats.Figures) []FiguresRead {
	out := make([]FiguresRead, 0, len(list))
	for _, f := range list {
		out = append(out, FiguresRead{ID: f.ID, Name: f.Name, RobotID: f.RobotID, Runs: f.Success + f.Failed + f.Canceled, Success: f.Success,
			Failed: f.Failed, Canceled: f.Canceled, SuccessRate: f.SuccessRate, P50Seconds: f.P50, P90Seconds: f.P90, Daily: daysRead(f.Daily)})
	}
	return out
}

func (s *Server) registerStatsRoutes() {
	type overviewOutput struct {
		Body OverviewRead
	}
	register(s, protect(huma.Operation{
		OperationID: "stats-overview", Method: http.MethodGet, Path: APIPrefix + "/stats/overview", Tags: []string{tagStats},
		Summary: "Runs today, success rate, open alerts, running now, oldest waiting run",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, _ *struct{}) (*overviewOutput, error) {
		o, err := s.stats.Overview(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		return &overviewOutput{Body: OverviewFrom(o, time.Now())}, nil
	})
	type windowInput struct {
		Days int `query:"days" minimum:"1" maximum:"90" default:"7" doc:"Window in days, today included (7 or 30 on the dashboard)."`
	}
	type figuresOutput struct {
		Body []FiguresRead
	}
	register(s, protect(huma.Operation{
		OperationID: "stats-robots", Method: http.MethodGet, Path: APIPrefix + "/stats/robots", Tags: []string{tagStats},
		Summary: "Per robot: finished runs, success rate, p50/p90 duration and runs per day over a window",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *windowInput) (*figuresOutput, error) {
		list, err := s.stats.Robots(ctx, principalFrom(ctx), in.Days)
		if err != nil {
			return nil, err
		}
		return &figuresOutput{Body: figuresRead(list)}, nil
	})
	register(s, protect(huma.Operation{
		OperationID: "stats-services", Method: http.MethodGet, Path: APIPrefix + "/stats/services", Tags: []string{tagStats},
		Summary: "Per portal service: finished runs, success rate, p50/p90 duration and runs per day over a window",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *windowInput) (*figuresOutput, error) {
		list, err := s.stats.Services(ctx, principalFrom(ctx), in.Days)
		if err != nil {
			return nil, err
		}
		return &figuresOutput{Body: figuresRead(list)}, nil
	})
	type dailyOutput struct {
		Body []DayRead
	}
	register(s, protect(huma.Operation{
		OperationID: "stats-daily", Method: http.MethodGet, Path: APIPrefix + "/stats/daily", Tags: []string{tagStats},
		Summary: "Finished runs per day over a window",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *windowInput) (*dailyOutput, error) {
		d, err := s.stats.Daily(ctx, principalFrom(ctx), in.Days)
		if err != nil {
			return nil, err
		}
		return &dailyOutput{Body: daysRead(d)}, nil
	})
	type failuresInput struct {
		Days  int `query:"days" minimum:"1" maximum:"90" default:"7"`
		Limit int `query:"limit" minimum:"1" maximum:"100" default:"20"`
	}
	type failuresOutput struct {
		Body []FailureRead
	}
	register(s, protect(huma.Operation{
		OperationID: "stats-failures", Method: http.MethodGet, Path: APIPrefix + "/stats/failures", Tags: []string{tagStats},
		Summary: "Failed runs grouped by error message, the most frequent first",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *failuresInput) (*failuresOutput, error) {
		list, err := s.stats.Failures(ctx, principalFrom(ctx), in.Days, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &failuresOutput{Body: make([]FailureRead, 0, len(list))}
		for _, f := range list {
			out.Body = append(out.Body, FailureRead{ErrorMessage: f.Message, Count: f.Count, Robots: f.Robots, LastSeen: f.LastSeen})
		}
		return out, nil
	})
}
