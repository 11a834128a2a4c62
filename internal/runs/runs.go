// Package runs creates, lists and cancels runs, serves their logs and
// artifacts, and reconciles what the bus may have lost: it re-signals PENDING
// runs nobody claimed and fails RUNNING runs whose worker stopped renewing
// its lease. The database row is the truth; bus signals are best effort.
package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/blob"
	"automationhub/internal/bus"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is the persistence the run service needs (sqlstore).
type Store interface {
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	VersionByID(ctx context.Context, robotID, versionID string) (*hub.Version, error)
	ActiveVersion(ctx context.Context, robotID string) (*hub.Version, error)
	// EnvKeys returns the keys of a robot's configuration for an
	// environment, each with whether it is a secret.
	EnvKeys(ctx context.Context, robotID, envName string) (map[string]bool, error)
	CreateRun(ctx context.Context, r *hub.Run, ev *hub.AuditEvent) error
	RunByID(ctx context.Context, id string) (*hub.Run, error)
	ListRuns(ctx context.Context, f hub.RunFilter) ([]hub.Run, hub.ListInfo, error)
	RunLogs(ctx context.Context, runID string, afterSeq int64, limit int) ([]hub.LogLine, error)
	LastLogSeq(ctx context.Context, runID string) (int64, error)
	RequestCancel(ctx context.Context, runID string, by *string, now time.Time, ev *hub.AuditEvent) (bool, error)
	ArtifactByID(ctx context.Context, runID, artifactID string) (*hub.Artifact, error)
	// StalePendingRuns lists PENDING runs to signal again: queued before
	// cutoff and held by no limit, or retries whose backoff ended by now.
	StalePendingRuns(ctx context.Context, cutoff, now time.Time, limit int) ([]string, error)
	// WaitingRuns lists PENDING runs a limit holds back, in queue order.
	WaitingRuns(ctx context.Context, now time.Time, limit int) ([]string, error)
	// WaitingBehind lists the PENDING runs a limit holds back that the end
	// of a run may have made room for, in queue order.
	WaitingBehind(ctx context.Context, runID string, now time.Time, limit int) ([]string, error)
	// RoutableRuns lists the PENDING runs waiting for a worker (labels,
	// pause) that an online worker with a free slot may take now.
	RoutableRuns(ctx context.Context, now time.Time, limit int) ([]string, error)
	ExpiredRuns(ctx context.Context, now time.Time, limit int) ([]string, error)
	FailRun(ctx context.Context, runID, errMsg, logMsg string, now time.Time) error
	// FoldRunCounts compacts the maintained run counters; several
	// processes may call it at once.
	FoldRunCounts(ctx context.Context) (int64, error)
}

// Signals is the part of the bus the run service uses.
type Signals interface {
	Enqueue(ctx context.Context, runID string) error
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Blobs opens stored run artifacts.
type Blobs interface {
	Open(key string) (*os.File, error)
}

// Config tunes the service.
type Config struct {
	DefaultTimeout time.Duration
	// StaleAfter is how long a lease may go unrenewed before the run is
	// failed as "worker lost" (WORKER_STALE_SECONDS).
	StaleAfter time.Duration
	// Agents, when set, tells remote agents from workers: a run whose
	// agent stopped renewing its lease fails as "agent lost".
	Agents interface {
		IsAgent(ctx context.Context, workerID string) bool
	}
	Clock  hub.Clock
	Logger *slog.Logger
}

// Service implements runs.
type Service struct {
	store Store
	bus   Signals
	blobs Blobs
	cfg   Config
	clock hub.Clock
	log   *slog.Logger
}

// New returns a run service.
func New(store Store, signals Signals, blobs Blobs, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = time.Hour
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = time.Minute
	}
	return &Service{store: store, bus: signals, blobs: blobs, cfg: cfg, clock: cfg.Clock, log: cfg.Logger}
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

// MaxPriority bounds a run's priority (from -MaxPriority to MaxPriority).
const MaxPriority = 100

// ExecuteInput is the input of Execute.
type ExecuteInput struct {
	VersionID        *string
	RuntimeArguments []string
	RuntimeEnv       map[string]string
	EnvName          string
	TimeoutSeconds   *int
	// RetryCount and RetryBackoffSeconds override the robot's retry
	// defaults; Priority orders the run in the queue (higher first).
	RetryCount          *int
	RetryBackoffSeconds *int
	Priority            int
	// For portal runs.
	ServiceID   *string
	Parameters  map[string]any
	TriggerType string
}

// Execute queues a run of a robot (robot.run on it): the run row is written
// first (with its audit event), the ready signal second — a lost signal only
// delays the run until the reconciler re-sends it.
func (s *Service) Execute(ctx context.Context, p *hub.Principal, robotID string, in ExecuteInput) (*hub.Run, error) {
	rid, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	if !rbac.Has(p, hub.PermRobotRun) {
		return nil, forbidden()
	}
	robot, err := s.store.RobotByID(ctx, rid.String())
	if hub.ErrorKind(err) == hub.ENotFound {
		return nil, hub.Errorf(hub.ENotFound, "Robot version not found for execution.")
	}
	if err != nil {
		return nil, err
	}
	if !rbac.Allowed(p, hub.PermRobotRun, robot.Ref()) {
		return nil, forbidden()
	}
	var v *hub.Version
	if in.VersionID != nil && *in.VersionID != "" {
		vid, err := uuid.Parse(*in.VersionID)
		if err != nil {
			return nil, hub.Errorf(hub.ENotFound, "Robot version not found for execution.")
		}
		v, err = s.store.VersionByID(ctx, robot.ID, vid.String())
		if hub.ErrorKind(err) == hub.ENotFound {
			return nil, hub.Errorf(hub.ENotFound, "Robot version not found for execution.")
		}
		if err != nil {
			return nil, err
		}
	} else if v, err = s.store.ActiveVersion(ctx, robot.ID); err != nil {
		return nil, err
	}
	if v.ArtifactPath == nil {
		return nil, hub.Errorf(hub.EConflict, "Robot version %s has no package yet; publish a version with an artifact first.", v.Version)
	}
	env := in.EnvName
	if env == "" {
		env = "PROD"
	}
	if !slices.Contains(hub.EnvNames, env) {
		return nil, hub.Errorf(hub.EUnprocessable, "env_name must be one of: PROD, HML, TEST.")
	}
	timeout := int(s.cfg.DefaultTimeout / time.Second)
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
	}
	if timeout < 1 || timeout > 7*86400 {
		return nil, hub.Errorf(hub.EUnprocessable, "timeout_seconds must be between 1 and 604800.")
	}
	args := in.RuntimeArguments
	if args == nil {
		args = []string{}
	}
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, hub.Errorf(hub.EUnprocessable, "runtime_arguments must not contain NUL characters.")
		}
	}
	renv := in.RuntimeEnv
	if renv == nil {
		renv = map[string]string{}
	}
	for k, val := range renv {
		if !hub.ValidEnvName(k) || strings.ContainsRune(val, 0) {
			return nil, hub.Errorf(hub.EUnprocessable, "runtime_env key %q is not a valid variable name.", k)
		}
	}
	// A run sets only what its robot declares, and never a loader,
	// interpreter or shell hook: runtime_env comes from whoever may run the
	// robot, not from whoever wrote it.
	if err := hub.CheckRunEnv(renv, v.DeclaredEnvKeys()); err != nil {
		return nil, err
	}
	if err := s.CheckRunConfig(ctx, robot.ID, v, env, renv); err != nil {
		return nil, err
	}
	retries, backoff := robot.Settings.RetryCount, robot.Settings.RetryBackoffSeconds
	if in.RetryCount != nil {
		retries = *in.RetryCount
	}
	if in.RetryBackoffSeconds != nil {
		backoff = *in.RetryBackoffSeconds
	}
	if retries < 0 || retries > hub.MaxRetryCount {
		return nil, hub.Errorf(hub.EUnprocessable, "retry_count must be between 0 and %d.", hub.MaxRetryCount)
	}
	if backoff < 1 || backoff > hub.MaxRetryBackoffSeconds {
		return nil, hub.Errorf(hub.EUnprocessable, "retry_backoff_seconds must be between 1 and %d.", hub.MaxRetryBackoffSeconds)
	}
	if in.Priority < -MaxPriority || in.Priority > MaxPriority {
		return nil, hub.Errorf(hub.EUnprocessable, "priority must be between %d and %d.", -MaxPriority, MaxPriority)
	}
	trigger := in.TriggerType
	if trigger == "" {
		trigger = hub.TriggerManual
	}
	now := s.clock.Now()
	r := &hub.Run{
		ID: uuid.NewString(), RobotID: robot.ID, VersionID: v.ID, ServiceID: in.ServiceID, Status: hub.RunPending,
		TriggerType: trigger, Attempt: 1, EnvName: env, Parameters: in.Parameters, RuntimeArguments: args,
		RuntimeEnv: renv, TimeoutSeconds: timeout, QueuedAt: now, TriggeredBy: p.UserID(),
		RetryCount: retries, RetryBackoffSeconds: backoff, Priority: in.Priority,
		Version:   &hub.VersionSummary{ID: v.ID, Version: v.Version, Channel: v.Channel, ArtifactType: v.ArtifactType, ArtifactSHA256: v.ArtifactSHA256},
		Artifacts: []hub.Artifact{},
	}
	action, meta := "run.triggered", map[string]any{"run_id": r.ID, "robot_id": robot.ID, "version_id": v.ID}
	if in.ServiceID != nil {
		action = "service.run.triggered"
		meta["service_id"] = *in.ServiceID
	}
	if err := s.store.CreateRun(ctx, r, audit.Event(p, action, "run", r.ID, meta, now)); err != nil {
		return nil, err
	}
	if err := s.bus.Enqueue(ctx, r.ID); err != nil {
		// The row is committed: the reconciler will signal it again.
		s.log.WarnContext(ctx, "run queued but its ready signal failed; the reconciler will resend it", "run_id", r.ID, "error", err.Error())
	}
	return shown(r), nil
}

// CheckScheduledRuns says whether a schedule of the robot could start runs:
// its active version's required configuration for PROD (the environment of
// scheduled runs) is there (EConflict naming the missing keys, as
// CheckRunConfig). A robot without an active version passes: its fires are
// skipped until it has one.
func (s *Service) CheckScheduledRuns(ctx context.Context, robotID string) error {
	v, err := s.store.ActiveVersion(ctx, robotID)
	if hub.ErrorKind(err) == hub.ENotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return s.CheckRunConfig(ctx, robotID, v, "PROD", nil)
}

// CheckRunConfig checks a run about to be created against its robot's
// configuration for the run's environment: every key the version requires
// (robot.yaml's required_env) must be configured there (EConflict naming the
// missing keys, wrapping hub.ErrMissingRunEnv), and the runtime environment
// may not override a secret of it (EInvalid). Every path that creates a run
// calls it before the run is written: execute, portal service runs (through
// Execute) and schedules.
func (s *Service) CheckRunConfig(ctx context.Context, robotID string, v *hub.Version, envName string, runtimeEnv map[string]string) error {
	if len(v.RequiredEnvKeys) == 0 && len(runtimeEnv) == 0 {
		return nil
	}
	keys, err := s.store.EnvKeys(ctx, robotID, envName)
	if err != nil {
		return err
	}
	var missing []string
	for _, k := range v.RequiredEnvKeys {
		if _, ok := keys[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: %w", hub.Errorf(hub.EConflict, "Missing required env vars for %s: %s. Configure keys in Robot > Config/Secrets before executing.",
			envName, strings.Join(slices.Compact(missing), ", ")), hub.ErrMissingRunEnv)
	}
	names := slices.Sorted(maps.Keys(runtimeEnv))
	for _, k := range names {
		if keys[k] {
			return hub.Errorf(hub.EInvalid, "runtime_env key %s is a secret of the robot's %s configuration and cannot be overridden.", k, envName)
		}
	}
	return nil
}

// SignalWaiting signals the runs a limit held back that the end of run
// runID may have made room for (best effort: the reconciler signals
// held-back runs again now and then).
func (s *Service) SignalWaiting(ctx context.Context, runID string) {
	ids, err := s.store.WaitingBehind(ctx, runID, s.clock.Now(), WaitingSignals)
	if err != nil {
		s.log.WarnContext(ctx, "finding runs waiting for a slot failed", "run_id", runID, "error", err.Error())
		return
	}
	for _, id := range ids {
		_ = s.bus.Enqueue(ctx, id)
	}
}

// WaitingSignals is how many held-back runs the end of a run signals: a
// run frees one slot of each limit, and a signal starts the first run in
// queue order that has room, so a few cover runs blocked by other limits.
const WaitingSignals = 4

// shown is a run as callers see it: the values of secret-looking runtime_env
// names are masked (hub.MaskSecrets), whoever asks. Only the worker, which
// reads runs through its own state, sees them.
func shown(r *hub.Run) *hub.Run {
	r.RuntimeEnv = hub.MaskSecrets(r.RuntimeEnv)
	return r
}

// robotRef loads what scoped checks need for a run's robot.
func (s *Service) robotRef(ctx context.Context, robotID string) (*hub.RobotRef, error) {
	robot, err := s.store.RobotByID(ctx, robotID)
	if err != nil {
		return nil, err
	}
	return robot.Ref(), nil
}

// runFor loads a run and checks perm on its robot (any of perms suffices).
func (s *Service) runFor(ctx context.Context, p *hub.Principal, runID string, perms ...hub.Permission) (*hub.Run, error) {
	id, err := uuid.Parse(runID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "run_id invalido.")
	}
	r, err := s.store.RunByID(ctx, id.String())
	if err != nil {
		return nil, err
	}
	ref, err := s.robotRef(ctx, r.RobotID)
	if err != nil {
		return nil, err
	}
	for _, perm := range perms {
		if rbac.Allowed(p, perm, ref) {
			return shown(r), nil
		}
	}
	return nil, forbidden()
}

// Get returns a run (run.read on its robot).
func (s *Service) Get(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, error) {
	return s.runFor(ctx, p, runID, hub.PermRunRead)
}

// ListInput is the input of List.
type ListInput struct {
	RobotID, ServiceID, Status, TriggerType string
	// ScheduleID keeps the runs of one schedule.
	ScheduleID string
	// Since and Until bound the queue time (Since inclusive, Until exclusive).
	Since, Until *time.Time
	Page         hub.Page
}

// List returns the runs the caller may read, newest first. Callers with
// robot-scoped run.read grants see only their robots' runs.
func (s *Service) List(ctx context.Context, p *hub.Principal, in ListInput) ([]hub.Run, hub.ListInfo, error) {
	f := hub.RunFilter{Status: in.Status, TriggerType: in.TriggerType, ScheduleID: in.ScheduleID, Since: in.Since, Until: in.Until, Page: in.Page, Scope: rbac.Scope(p, hub.PermRunRead)}
	for _, c := range []*hub.Cursor{in.Page.Before, in.Page.After} {
		if c != nil && uuid.Validate(c.ID) != nil {
			return nil, hub.ListInfo{}, hub.Errorf(hub.EInvalid, "Invalid cursor.")
		}
	}
	if in.RobotID != "" {
		id, err := uuid.Parse(in.RobotID)
		if err != nil {
			return nil, hub.ListInfo{}, hub.Errorf(hub.EInvalid, "robot_id invalido.")
		}
		f.RobotID = id.String()
		ref, err := s.robotRef(ctx, f.RobotID)
		if hub.ErrorKind(err) == hub.ENotFound {
			return []hub.Run{}, hub.ListInfo{Exact: true}, nil
		}
		if err != nil {
			return nil, hub.ListInfo{}, err
		}
		if !rbac.Allowed(p, hub.PermRunRead, ref) {
			return nil, hub.ListInfo{}, forbidden()
		}
		f.Scope = hub.RobotScope{All: true}
	}
	if in.ScheduleID != "" {
		id, err := uuid.Parse(in.ScheduleID)
		if err != nil {
			return nil, hub.ListInfo{}, hub.Errorf(hub.EUnprocessable, "schedule_id must be a UUID.")
		}
		f.ScheduleID = id.String()
	}
	if in.ServiceID != "" {
		id, err := uuid.Parse(in.ServiceID)
		if err != nil {
			return nil, hub.ListInfo{}, hub.Errorf(hub.EUnprocessable, "service_id must be a UUID.")
		}
		f.ServiceID = id.String()
	}
	list, info, err := s.store.ListRuns(ctx, f)
	if err != nil {
		return nil, hub.ListInfo{}, err
	}
	for i := range list {
		shown(&list[i])
	}
	return list, info, nil
}

// Logs returns up to limit lines after afterSeq (run.read on the robot).
func (s *Service) Logs(ctx context.Context, p *hub.Principal, runID string, afterSeq int64, limit int) ([]hub.LogLine, error) {
	r, err := s.runFor(ctx, p, runID, hub.PermRunRead)
	if err != nil {
		return nil, err
	}
	return s.store.RunLogs(ctx, r.ID, afterSeq, limit)
}

// Cancel cancels a PENDING run at once or asks the worker of a RUNNING run
// to stop it (robot.run or run.cancel on the robot). Repeating is harmless.
func (s *Service) Cancel(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, error) {
	r, err := s.runFor(ctx, p, runID, hub.PermRunCancel, hub.PermRobotRun)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	ev := audit.Event(p, "run_cancel_requested", "run", r.ID, map[string]any{"run_id": r.ID, "robot_id": r.RobotID, "cancel_requested": true}, now)
	changed, err := s.store.RequestCancel(ctx, r.ID, p.UserID(), now, ev)
	if err != nil {
		return nil, err
	}
	if changed && r.Status == hub.RunRunning {
		if err := s.bus.Publish(ctx, bus.CancelTopic, []byte(r.ID)); err != nil {
			s.log.WarnContext(ctx, "cancel signal failed; the worker will notice from the database", "run_id", r.ID, "error", err.Error())
		}
	}
	r, err = s.store.RunByID(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return shown(r), nil
}

// OpenArtifact opens a run artifact (artifact.download on the robot).
func (s *Service) OpenArtifact(ctx context.Context, p *hub.Principal, runID, artifactID string) (*hub.Artifact, *os.File, error) {
	r, err := s.runFor(ctx, p, runID, hub.PermArtifactDownload)
	if err != nil {
		return nil, nil, err
	}
	aid, err := uuid.Parse(artifactID)
	if err != nil {
		return nil, nil, hub.Errorf(hub.ENotFound, "Artifact not found.")
	}
	a, err := s.store.ArtifactByID(ctx, r.ID, aid.String())
	if err != nil {
		return nil, nil, err
	}
	f, err := s.blobs.Open(a.Path)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil, hub.Errorf(hub.ENotFound, "Artifact file not found on disk.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("runs.OpenArtifact: %w", err)
	}
	return a, f, nil
}

// StatusMessage is published on a run's log topic when it ends.
type StatusMessage struct {
	Type   string `json:"type"` // "status"
	RunID  string `json:"run_id"`
	Status string `json:"status"`
}

// LogBatch is published on a run's log topic for each stored batch of lines.
type LogBatch struct {
	Type  string        `json:"type"` // "logs"
	Lines []hub.LogLine `json:"lines"`
}

// EncodeLogBatch encodes lines for the bus.
func EncodeLogBatch(lines []hub.LogLine) []byte {
	b, _ := json.Marshal(LogBatch{Type: "logs", Lines: lines})
	return b
}

// EncodeStatus encodes an end-of-run message for the bus.
func EncodeStatus(runID, status string) []byte {
	b, _ := json.Marshal(StatusMessage{Type: "status", RunID: runID, Status: status})
	return b
}

// LogReader reads one run's log for a caller whose access was checked once,
// when it was opened (the WebSocket stream pages through it many times).
type LogReader struct {
	store Store
	runID string
}

// OpenLog checks run.read on the run's robot and returns the run and a
// reader of its log.
func (s *Service) OpenLog(ctx context.Context, p *hub.Principal, runID string) (*hub.Run, *LogReader, error) {
	r, err := s.runFor(ctx, p, runID, hub.PermRunRead)
	if err != nil {
		return nil, nil, err
	}
	return r, &LogReader{store: s.store, runID: r.ID}, nil
}

// Page returns up to limit lines with seq > after, in order.
func (l *LogReader) Page(ctx context.Context, after int64, limit int) ([]hub.LogLine, error) {
	return l.store.RunLogs(ctx, l.runID, after, limit)
}

// LastSeq returns the highest stored seq (0 when the log is empty).
func (l *LogReader) LastSeq(ctx context.Context) (int64, error) {
	return l.store.LastLogSeq(ctx, l.runID)
}

// Run returns the run as it is now (its status, when it finished).
func (l *LogReader) Run(ctx context.Context) (*hub.Run, error) {
	return l.store.RunByID(ctx, l.runID)
}
