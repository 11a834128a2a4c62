package httpapi

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// Runs is what the run endpoints need from the run service.
type Runs interface {
	Execute(ctx context.Context, p *hub.Principal, robotID string, in runs.ExecuteInput) (*hub.Run, error)
	Get(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, error)
	List(ctx context.Context, p *hub.Principal, in runs.ListInput) ([]hub.Run, hub.ListInfo, error)
	Logs(ctx context.Context, p *hub.Principal, runID string, afterSeq int64, limit int) ([]hub.LogLine, error)
	OpenLog(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, *runs.LogReader, error)
	Cancel(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, error)
	OpenArtifact(ctx context.Context, p *hub.Principal, runID, artifactID string) (*hub.Artifact, *os.File, error)
}

// ArtifactRead is a file a run produced.
type ArtifactRead struct {
	ID            string    `json:"id" format:"uuid"`
	RunID         string    `json:"run_id" format:"uuid"`
	ArtifactName  string    `json:"artifact_name"`
	FilePath      string    `json:"file_path" doc:"Path relative to the artifact store (never a server path)."`
	FileSizeBytes int64     `json:"file_size_bytes"`
	ContentType   *string   `json:"content_type"`
	SHA256        *string   `json:"sha256"`
	CreatedAt     time.Time `json:"created_at"`
}

// RunVersionRead summarises the version a run used.
type RunVersionRead struct {
	ID             string  `json:"id" format:"uuid"`
	Version        string  `json:"version"`
	Channel        string  `json:"channel"`
	ArtifactType   string  `json:"artifact_type"`
	ArtifactSHA256 *string `json:"artifact_sha256"`
}

// RunServiceRead summarises the portal service of a run.
type RunServiceRead struct {
	ID    string `json:"id" format:"uuid"`
	Title string `json:"title"`
}

// RunRead is a run as the API shows it.
type RunRead struct {
	RunID            string            `json:"run_id" format:"uuid"`
	RobotID          string            `json:"robot_id" format:"uuid"`
	RobotVersionID   string            `json:"robot_version_id" format:"uuid"`
	ServiceID        *string           `json:"service_id"`
	ScheduleID       *string           `json:"schedule_id" doc:"The schedule that started the run (or the run it retries)."`
	TriggerType      string            `json:"trigger_type" enum:"MANUAL,SCHEDULED,RETRY"`
	Attempt          int               `json:"attempt"`
	ParametersJSON   map[string]any    `json:"parameters_json"`
	RuntimeArguments []string          `json:"runtime_arguments" doc:"Arguments the run was started with, after the version's own."`
	RuntimeEnv       map[string]string `json:"runtime_env" doc:"Environment the run was started with; values of names that look secret (PASSWORD, TOKEN, KEY, SECRET, AUTH…) are always \"***\"."`
	Status           string            `json:"status" enum:"PENDING,RUNNING,SUCCESS,FAILED,CANCELED"`
	QueuedAt         time.Time         `json:"queued_at"`
	StartedAt        *time.Time        `json:"started_at"`
	FinishedAt       *time.Time        `json:"finished_at"`
	DurationSeconds  *float64          `json:"duration_seconds"`
	TriggeredBy      *string           `json:"triggered_by"`
	ErrorMessage     *string           `json:"error_message"`
	ExitCode         *int              `json:"exit_code"`
	TimeoutSeconds   int               `json:"timeout_seconds"`
	HostName         *string           `json:"host_name"`
	ProcessID        *int              `json:"process_id"`
	WorkerID         *string           `json:"worker_id"`
	EnvName          string            `json:"env_name" enum:"PROD,HML,TEST"`
	CancelRequested  bool              `json:"cancel_requested"`
	CanceledAt       *time.Time        `json:"canceled_at"`
	CanceledBy       *string           `json:"canceled_by"`
	RobotVersion     *RunVersionRead   `json:"robot_version"`
	Service          *RunServiceRead   `json:"service"`
	Artifacts        []ArtifactRead    `json:"artifacts"`
	// Queue.
	ScheduledFor        *time.Time `json:"scheduled_for" doc:"The fire time a SCHEDULED run was started for."`
	RetryOf             *string    `json:"retry_of" doc:"The failed run a RETRY run repeats."`
	NotBefore           *time.Time `json:"not_before" doc:"A retry does not start before this time (its backoff)."`
	Priority            int        `json:"priority" doc:"Runs competing for a worker or a limit start higher priority first, then oldest first."`
	WaitingReason       *string    `json:"waiting_reason" doc:"Why a PENDING run has not started, e.g. \"pool sap-licences is full (2/2)\"; null otherwise."`
	RetryCount          int        `json:"retry_count" doc:"Retries the run's chain may have after a failure."`
	RetryBackoffSeconds int        `json:"retry_backoff_seconds"`
}

func runRead(r *hub.Run) RunRead {
	out := RunRead{
		RunID: r.ID, RobotID: r.RobotID, RobotVersionID: r.VersionID, ServiceID: r.ServiceID, TriggerType: r.TriggerType,
		Attempt: r.Attempt, ParametersJSON: r.Parameters, RuntimeArguments: r.RuntimeArguments, RuntimeEnv: r.RuntimeEnv,
		Status: r.Status, QueuedAt: r.QueuedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DurationSeconds: r.DurationSeconds,
		TriggeredBy: r.TriggeredBy, ErrorMessage: r.ErrorMessage,
		ExitCode: r.ExitCode, TimeoutSeconds: r.TimeoutSeconds, HostName: r.HostName, ProcessID: r.ProcessID, WorkerID: r.WorkerID,
		EnvName: r.EnvName, CancelRequested: r.CancelRequested, CanceledAt: r.CanceledAt, CanceledBy: r.CanceledBy,
		Artifacts: make([]ArtifactRead, 0, len(r.Artifacts)), ScheduleID: r.ScheduleID, ScheduledFor: r.ScheduledFor, RetryOf: r.RetryOf,
		NotBefore: r.NotBefore, Priority: r.Priority, WaitingReason: r.WaitingReason, RetryCount: r.RetryCount,
		RetryBackoffSeconds: r.RetryBackoffSeconds,
	}
	if out.RuntimeArguments == nil {
		out.RuntimeArguments = []string{}
	}
	if out.RuntimeEnv == nil {
		out.RuntimeEnv = map[string]string{}
	}
	if v := r.Version; v != nil {
		out.RobotVersion = &RunVersionRead{ID: v.ID, Version: v.Version, Channel: v.Channel, ArtifactType: v.ArtifactType, ArtifactSHA256: v.ArtifactSHA256}
	}
	if sv := r.Service; sv != nil {
		out.Service = &RunServiceRead{ID: sv.ID, Title: sv.Title}
	}
	for _, a := range r.Artifacts {
		out.Artifacts = append(out.Artifacts, ArtifactRead{ID: a.ID, RunID: a.RunID, ArtifactName: a.Name, FilePath: a.Path,
			FileSizeBytes: a.Size, ContentType: a.ContentType, SHA256: a.SHA256, CreatedAt: a.CreatedAt})
	}
	return out
}

// RunLogRead is one log line.
type RunLogRead struct {
	ID        int64     `json:"id" doc:"Same as seq (kept for clients of the previous API)."`
	Seq       int64     `json:"seq" doc:"Position of the line in the run's log, from 1, without gaps."`
	RunID     string    `json:"run_id" format:"uuid"`
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level" enum:"INFO,WARN,ERROR"`
	Message   string    `json:"message"`
}

const tagRuns = "Runs"

type runOutput struct {
	Body RunRead
}

func (s *Server) registerRunRoutes() {
	type executeInput struct {
		RobotID string `path:"robot_id"`
		Body    struct {
			VersionID           *string           `json:"version_id,omitempty" nullable:"true" doc:"Version to run; default: the active version."`
			RobotVersionID      *string           `json:"robot_version_id,omitempty" nullable:"true" doc:"Alias of version_id, used when version_id is null."`
			RuntimeArguments    []string          `json:"runtime_arguments,omitempty" doc:"Appended after the version's arguments."`
			RuntimeEnv          map[string]string `json:"runtime_env,omitempty"`
			EnvName             string            `json:"env_name,omitempty" enum:"PROD,HML,TEST" default:"PROD"`
			TimeoutSeconds      *int              `json:"timeout_seconds,omitempty" minimum:"1" maximum:"604800" doc:"Default RUN_DEFAULT_TIMEOUT_SECONDS."`
			RetryCount          *int              `json:"retry_count,omitempty" minimum:"0" maximum:"10" doc:"Retries if the run fails; default: the robot's retry_count."`
			RetryBackoffSeconds *int              `json:"retry_backoff_seconds,omitempty" minimum:"1" maximum:"3600" doc:"Wait before the first retry; default: the robot's."`
			Priority            int               `json:"priority,omitempty" minimum:"-100" maximum:"100" default:"0" doc:"Higher starts first when runs compete for a worker or a limit."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "execute-robot", Method: http.MethodPost, Path: APIPrefix + "/runs/{robot_id}/execute", Tags: []string{tagRuns},
		Summary: "Queue a run of a robot", DefaultStatus: http.StatusAccepted,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermRobotRun)), false, func(ctx context.Context, in *executeInput) (*runOutput, error) {
		vid := in.Body.VersionID
		if vid == nil {
			vid = in.Body.RobotVersionID
		}
		r, err := s.runs.Execute(ctx, principalFrom(ctx), in.RobotID, runs.ExecuteInput{
			VersionID: vid, RuntimeArguments: in.Body.RuntimeArguments, RuntimeEnv: in.Body.RuntimeEnv,
			EnvName: in.Body.EnvName, TimeoutSeconds: in.Body.TimeoutSeconds,
			RetryCount: in.Body.RetryCount, RetryBackoffSeconds: in.Body.RetryBackoffSeconds, Priority: in.Body.Priority,
		})
		if err != nil {
			return nil, err
		}
		return &runOutput{Body: runRead(r)}, nil
	})

	type runListInput struct {
		RobotID     string    `query:"robot_id"`
		ServiceID   string    `query:"service_id"`
		Status      string    `query:"status" enum:"PENDING,RUNNING,SUCCESS,FAILED,CANCELED,"`
		TriggerType string    `query:"trigger_type" enum:"MANUAL,SCHEDULED,RETRY,"`
		ScheduleID  string    `query:"schedule_id" doc:"Only the runs of this schedule (and their retries)."`
		Since       time.Time `query:"since" doc:"Only runs queued at or after this time (RFC 3339)."`
		Until       time.Time `query:"until" doc:"Only runs queued before this time (RFC 3339)."`
		Skip        int       `query:"skip" minimum:"0" default:"0" doc:"Runs to skip, from the start or from the cursor."`
		Limit       int       `query:"limit" minimum:"1" maximum:"200" default:"50"`
		Before      string    `query:"before" maxLength:"200" doc:"A next_cursor: the runs queued before that place (the following page)."`
		After       string    `query:"after" maxLength:"200" doc:"A prev_cursor: the runs queued after that place (the preceding page), still newest first."`
	}
	type runListOutput struct {
		Body struct {
			Items []RunRead `json:"items"`
			listMeta
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: APIPrefix + "/runs", Tags: []string{tagRuns},
		Summary:     "Runs the caller may read, newest first",
		Description: "Callers whose run.read is limited to some robots see only those robots' runs.",
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *runListInput) (*runListOutput, error) {
		page, err := listPage(in.Skip, in.Limit, in.Before, in.After)
		if err != nil {
			return nil, err
		}
		li := runs.ListInput{RobotID: in.RobotID, ServiceID: in.ServiceID, ScheduleID: in.ScheduleID,
			Status: in.Status, TriggerType: in.TriggerType, Page: page}
		if !in.Since.IsZero() {
			t := in.Since.UTC()
			li.Since = &t
		}
		if !in.Until.IsZero() {
			t := in.Until.UTC()
			li.Until = &t
		}
		list, info, err := s.runs.List(ctx, principalFrom(ctx), li)
		if err != nil {
			return nil, err
		}
		out := &runListOutput{}
		out.Body.listMeta = newListMeta(info)
		out.Body.Items = make([]RunRead, 0, len(list))
		for i := range list {
			out.Body.Items = append(out.Body.Items, runRead(&list[i]))
		}
		return out, nil
	})

	type runPath struct {
		RunID string `path:"run_id"`
	}
	register(s, protect(huma.Operation{
		OperationID: "get-run", Method: http.MethodGet, Path: APIPrefix + "/runs/{run_id}", Tags: []string{tagRuns},
		Summary: "One run", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *runPath) (*runOutput, error) {
		r, err := s.runs.Get(ctx, principalFrom(ctx), in.RunID)
		if err != nil {
			return nil, err
		}
		return &runOutput{Body: runRead(r)}, nil
	})

	type logsInput struct {
		RunID    string `path:"run_id"`
		AfterSeq int64  `query:"after_seq" minimum:"0" default:"0" doc:"Only lines after this seq: page through a log by passing the last seq you got."`
		Limit    int    `query:"limit" minimum:"1" maximum:"5000" default:"500"`
	}
	type logsOutput struct {
		Body []RunLogRead
	}
	register(s, protect(huma.Operation{
		OperationID: "run-logs", Method: http.MethodGet, Path: APIPrefix + "/runs/{run_id}/logs", Tags: []string{tagRuns},
		Summary: "A run's log lines in order, paged by seq", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *logsInput) (*logsOutput, error) {
		lines, err := s.runs.Logs(ctx, principalFrom(ctx), in.RunID, in.AfterSeq, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &logsOutput{Body: make([]RunLogRead, 0, len(lines))}
		for _, l := range lines {
			out.Body = append(out.Body, RunLogRead{ID: l.Seq, Seq: l.Seq, RunID: l.RunID, Timestamp: l.Timestamp, Level: l.Level, Message: l.Message})
		}
		return out, nil
	})

	register(s, protect(huma.Operation{
		OperationID: "cancel-run", Method: http.MethodPost, Path: APIPrefix + "/runs/{run_id}/cancel", Tags: []string{tagRuns},
		Summary:     "Cancel a run",
		Description: "A PENDING run is cancelled at once; a RUNNING one is stopped by its worker (the whole process tree). Needs robot.run or run.cancel on the robot.",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermRobotRun)+"|"+string(hub.PermRunCancel)), false, func(ctx context.Context, in *runPath) (*runOutput, error) {
		r, err := s.runs.Cancel(ctx, principalFrom(ctx), in.RunID)
		if err != nil {
			return nil, err
		}
		return &runOutput{Body: runRead(r)}, nil
	})

	s.handlePlain(&huma.Operation{
		OperationID: "download-run-artifact", Method: http.MethodGet, Path: APIPrefix + "/runs/{run_id}/artifacts/{artifact_id}/download",
		Tags: []string{tagRuns}, Summary: "Download a run artifact",
		Description: "Supports Range requests. Requires permission `artifact.download` on the run's robot.",
		Parameters: []*huma.Param{
			{Name: "run_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "artifact_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
		},
		Security: []map[string][]string{{bearerScheme: {}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The file."}, "206": {Description: "Part of the file (Range)."},
			"401": {Description: "Not authenticated."}, "403": {Description: "Not allowed."}, "404": {Description: "No such run or artifact."},
		},
	}, false, s.requireAuth(string(hub.PermArtifactDownload), func(w http.ResponseWriter, r *http.Request, p *hub.Principal) {
		a, f, err := s.runs.OpenArtifact(r.Context(), p, r.PathValue("run_id"), r.PathValue("artifact_id"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		defer f.Close()
		ct := "application/octet-stream"
		if a.ContentType != nil {
			ct = *a.ContentType
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", contentDisposition(a.Name))
		if a.SHA256 != nil {
			w.Header().Set("ETag", `"`+*a.SHA256+`"`)
		}
		http.ServeContent(w, r, "", a.CreatedAt, f)
	}))
}
