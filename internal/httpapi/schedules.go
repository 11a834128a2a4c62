package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/schedule"
)

// Schedules is what the schedule endpoints need from the schedule service.
type Schedules interface {
	Create(ctx context.Context, p *hub.Principal, robotID string, in schedule.Input) (*hub.Schedule, error)
	Get(ctx context.Context, p *hub.Principal, robotID string) (*hub.Schedule, error)
	Update(ctx context.Context, p *hub.Principal, robotID string, in schedule.Input) (*hub.Schedule, error)
	Delete(ctx context.Context, p *hub.Principal, robotID string) error
	List(ctx context.Context, p *hub.Principal, enabled *bool, page hub.Page) ([]hub.Schedule, error)
	Preview(p *hub.Principal, cronExpr, timezone string, windowStart, windowEnd *string, count int, lang string) (*schedule.Preview, error)
}

// ScheduleRead is a robot's schedule as the API shows it: the previous
// backend's fields, then the policies and fire times it did not have.
type ScheduleRead struct {
	ID                   string     `json:"id" format:"uuid"`
	RobotID              string     `json:"robot_id" format:"uuid"`
	Enabled              bool       `json:"enabled"`
	CronExpr             string     `json:"cron_expr"`
	Timezone             string     `json:"timezone"`
	WindowStart          *string    `json:"window_start"`
	WindowEnd            *string    `json:"window_end"`
	MaxConcurrency       int        `json:"max_concurrency"`
	TimeoutSeconds       int        `json:"timeout_seconds"`
	RetryCount           int        `json:"retry_count"`
	RetryBackoffSeconds  int        `json:"retry_backoff_seconds"`
	CreatedBy            *string    `json:"created_by"`
	CreatedAt            time.Time  `json:"created_at"`
	OverlapPolicy        string     `json:"overlap_policy" enum:"skip,queue,cancel_previous"`
	Catchup              string     `json:"catchup" enum:"latest,none,all"`
	CatchupWindowSeconds int        `json:"catchup_window_seconds"`
	NextFireAt           *time.Time `json:"next_fire_at" doc:"When the schedule fires next (UTC); null when disabled or when it never fires again."`
	LastFireAt           *time.Time `json:"last_fire_at" doc:"The fire time of the last run it started."`
	UpdatedAt            time.Time  `json:"updated_at"`
	RobotName            string     `json:"robot_name"`
	Description          string     `json:"description" doc:"The cron expression in words (English)."`
}

func scheduleRead(s *hub.Schedule) ScheduleRead {
	out := ScheduleRead{ID: s.ID, RobotID: s.RobotID, Enabled: s.Enabled, CronExpr: s.CronExpr, Timezone: s.Timezone,
		WindowStart: s.WindowStart, WindowEnd: s.WindowEnd, MaxConcurrency: s.MaxConcurrency, TimeoutSeconds: s.TimeoutSeconds,
		RetryCount: s.RetryCount, RetryBackoffSeconds: s.RetryBackoffSeconds, CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt,
		OverlapPolicy: s.OverlapPolicy, Catchup: s.Catchup, CatchupWindowSeconds: s.CatchupWindowSecs, LastFireAt: s.LastFireAt,
		UpdatedAt: s.UpdatedAt, RobotName: s.RobotName, Description: schedule.Describe(s.CronExpr, "en")}
	if s.Enabled {
		out.NextFireAt = s.NextFireAt
	}
	return out
}

// scheduleBody is the body of schedule create and change; absent fields
// take the defaults (create) or keep their value (change).
type scheduleBody struct {
	Enabled              *bool   `json:"enabled,omitempty" doc:"Default true."`
	CronExpr             *string `json:"cron_expr,omitempty" minLength:"5" maxLength:"120" doc:"Five fields (minute hour day-of-month month day-of-week; names such as MON and JAN allowed) or @yearly, @monthly, @weekly, @daily, @hourly."`
	Timezone             *string `json:"timezone,omitempty" minLength:"3" maxLength:"80" doc:"IANA time zone the expression is read in; default America/Sao_Paulo. Unknown zones are refused (400)."`
	WindowStart          *string `json:"window_start,omitempty" nullable:"true" pattern:"^([01]\\d|2[0-3]):[0-5]\\d$" doc:"HH:MM local; with window_end, fires only between them (inclusive; overnight when start > end)."`
	WindowEnd            *string `json:"window_end,omitempty" nullable:"true" pattern:"^([01]\\d|2[0-3]):[0-5]\\d$"`
	MaxConcurrency       *int    `json:"max_concurrency,omitempty" minimum:"1" maximum:"100" doc:"How many of the schedule's runs may be active at once; default 1."`
	TimeoutSeconds       *int    `json:"timeout_seconds,omitempty" minimum:"1" maximum:"86400" doc:"Timeout of the runs it starts; default 3600."`
	RetryCount           *int    `json:"retry_count,omitempty" minimum:"0" maximum:"10" doc:"Retries of a failed run; default 0."`
	RetryBackoffSeconds  *int    `json:"retry_backoff_seconds,omitempty" minimum:"1" maximum:"3600" doc:"Wait before the first retry, doubled for each next one (with jitter, capped); default 60."`
	OverlapPolicy        *string `json:"overlap_policy,omitempty" enum:"skip,queue,cancel_previous" doc:"When max_concurrency runs are still active at a fire: skip the fire (default), queue the run, or cancel the previous runs."`
	Catchup              *string `json:"catchup,omitempty" enum:"latest,none,all" doc:"Fires missed while no scheduler ran: run the latest one within catchup_window_seconds (default), none, or all of them within the window (at most 100)."`
	CatchupWindowSeconds *int    `json:"catchup_window_seconds,omitempty" minimum:"0" maximum:"604800" doc:"Default 3600."`
}

func (b scheduleBody) input(raw []byte) (schedule.Input, error) {
	in := schedule.Input{Enabled: b.Enabled, CronExpr: b.CronExpr, Timezone: b.Timezone, WindowStart: b.WindowStart, WindowEnd: b.WindowEnd,
		MaxConcurrency: b.MaxConcurrency, TimeoutSeconds: b.TimeoutSeconds, RetryCount: b.RetryCount, RetryBackoffSeconds: b.RetryBackoffSeconds,
		OverlapPolicy: b.OverlapPolicy, Catchup: b.Catchup, CatchupWindowSecs: b.CatchupWindowSeconds, Present: map[string]bool{}}
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

// windowPairError answers a window given by one end only on create as the
// previous backend's request validation did: 422 with a list.
func windowPairError(err error) error {
	if hub.ErrorKind(err) == hub.EUnprocessable && hub.ErrorMessage(err) == schedule.MsgWindowPair {
		return &ErrorBody{status: http.StatusUnprocessableEntity, Detail: []ValidationItem{{Type: "value_error", Loc: []string{"body"},
			Msg: schedule.MsgWindowPair, Input: nil}}}
	}
	return err
}

const tagSchedules = "Schedules"

type scheduleOutput struct {
	Body ScheduleRead
}

// PreviewRead is the answer of the schedule preview.
type PreviewRead struct {
	CronExpr           string      `json:"cron_expr" doc:"The normalised five fields."`
	Timezone           string      `json:"timezone"`
	Description        string      `json:"description"`
	NextFireTimes      []time.Time `json:"next_fire_times" doc:"UTC."`
	NextFireTimesLocal []string    `json:"next_fire_times_local" doc:"The same instants in the schedule's time zone, with their offset."`
}

func (s *Server) registerScheduleRoutes() {
	type createInput struct {
		RobotID string `path:"robot_id"`
		Body    scheduleBody
	}
	register(s, protect(huma.Operation{
		OperationID: "create-schedule", Method: http.MethodPost, Path: APIPrefix + "/robots/{robot_id}/schedule", Tags: []string{tagSchedules},
		Summary: "Give a robot its schedule", DefaultStatus: http.StatusCreated,
		Description: "One schedule per robot. The cron expression is checked first (400), then the robot (404), then that it has no schedule (400).",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *createInput) (*scheduleOutput, error) {
		si, _ := in.Body.input(nil)
		sc, err := s.schedules.Create(ctx, principalFrom(ctx), in.RobotID, si)
		if err != nil {
			return nil, windowPairError(err)
		}
		return &scheduleOutput{Body: scheduleRead(sc)}, nil
	})

	register(s, protect(huma.Operation{
		OperationID: "get-schedule", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}/schedule", Tags: []string{tagSchedules},
		Summary: "A robot's schedule", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *robotPath) (*scheduleOutput, error) {
		sc, err := s.schedules.Get(ctx, principalFrom(ctx), in.RobotID)
		if err != nil {
			return nil, err
		}
		return &scheduleOutput{Body: scheduleRead(sc)}, nil
	})

	type patchInput struct {
		RobotID string `path:"robot_id"`
		RawBody []byte
		Body    scheduleBody
	}
	register(s, protect(huma.Operation{
		OperationID: "update-schedule", Method: http.MethodPatch, Path: APIPrefix + "/robots/{robot_id}/schedule", Tags: []string{tagSchedules},
		Summary:     "Change a robot's schedule (only the fields sent)",
		Description: "null is refused except for window_start and window_end, which are cleared together. A change of timetable computes the next fire time again from now.",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *patchInput) (*scheduleOutput, error) {
		si, err := in.Body.input(in.RawBody)
		if err != nil {
			return nil, err
		}
		sc, err := s.schedules.Update(ctx, principalFrom(ctx), in.RobotID, si)
		if err != nil {
			return nil, err
		}
		return &scheduleOutput{Body: scheduleRead(sc)}, nil
	})

	type messageOutput struct {
		Body MessageBody
	}
	register(s, protect(huma.Operation{
		OperationID: "delete-schedule", Method: http.MethodDelete, Path: APIPrefix + "/robots/{robot_id}/schedule", Tags: []string{tagSchedules},
		Summary: "Remove a robot's schedule", Description: "Its runs stay; their schedule_id becomes null.",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *robotPath) (*messageOutput, error) {
		if err := s.schedules.Delete(ctx, principalFrom(ctx), in.RobotID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Schedule removed successfully."}}, nil
	})

	type listInput struct {
		Enabled string `query:"enabled" enum:"true,false," doc:"Only enabled (true) or disabled (false) schedules."`
		Skip    int    `query:"skip" minimum:"0" default:"0"`
		Limit   int    `query:"limit" minimum:"1" maximum:"1000" default:"500"`
	}
	type listOutput struct {
		Body []ScheduleRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-schedules", Method: http.MethodGet, Path: APIPrefix + "/schedules", Tags: []string{tagSchedules},
		Summary: "The schedules of the robots the caller may read, the next to fire first",
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *listInput) (*listOutput, error) {
		var enabled *bool
		if in.Enabled != "" {
			b := in.Enabled == "true"
			enabled = &b
		}
		list, err := s.schedules.List(ctx, principalFrom(ctx), enabled, hub.Page{Skip: in.Skip, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &listOutput{Body: make([]ScheduleRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, scheduleRead(&list[i]))
		}
		return out, nil
	})

	type previewInput struct {
		Cron        string `query:"cron" required:"true" maxLength:"120" doc:"A cron expression."`
		Timezone    string `query:"timezone" maxLength:"80" doc:"Default America/Sao_Paulo."`
		WindowStart string `query:"window_start" pattern:"^(([01]\\d|2[0-3]):[0-5]\\d)?$"`
		WindowEnd   string `query:"window_end" pattern:"^(([01]\\d|2[0-3]):[0-5]\\d)?$"`
		Count       int    `query:"count" minimum:"1" maximum:"50" default:"5"`
		Lang        string `query:"lang" enum:"en,pt-BR," doc:"Language of the description; default en."`
	}
	type previewOutput struct {
		Body PreviewRead
	}
	register(s, protect(huma.Operation{
		OperationID: "preview-schedule", Method: http.MethodGet, Path: APIPrefix + "/schedules/preview", Tags: []string{tagSchedules},
		Summary: "Check a timetable: its description and next fire times", Errors: []int{http.StatusBadRequest},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *previewInput) (*previewOutput, error) {
		var ws, we *string
		if in.WindowStart != "" {
			ws = &in.WindowStart
		}
		if in.WindowEnd != "" {
			we = &in.WindowEnd
		}
		pv, err := s.schedules.Preview(principalFrom(ctx), in.Cron, in.Timezone, ws, we, in.Count, in.Lang)
		if err != nil {
			return nil, err
		}
		out := &previewOutput{Body: PreviewRead{CronExpr: pv.CronExpr, Timezone: pv.Timezone, Description: pv.Description,
			NextFireTimes: pv.Next, NextFireTimesLocal: make([]string, 0, len(pv.Next))}}
		if out.Body.NextFireTimes == nil {
			out.Body.NextFireTimes = []time.Time{}
		}
		for _, t := range pv.Next {
			out.Body.NextFireTimesLocal = append(out.Body.NextFireTimesLocal, t.In(pv.Location).Format("2006-01-02T15:04:05-07:00"))
		}
		return out, nil
	})
}
