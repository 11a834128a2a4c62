// Package agents is the hub's side of remote agents: enrolment tokens, the
// agents that traded one for a credential of their own, and the protocol
// they speak over HTTPS (internal/httpapi serves it): a long-poll claim,
// lease renewal, log batches by seq, packages by SHA-256, artifacts as
// streams and the run's end. An agent reaches only the runs it holds;
// everything it does goes through the same run state as a hub's own
// worker (runstate), so that limits, labels and pauses apply alike.
package agents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/rbac"
	"automationhub/internal/runstate"
)

// Store is the part of the database agents live in.
type Store interface {
	CreateEnrollmentToken(ctx context.Context, t *hub.EnrollmentToken, ev *hub.AuditEvent) error
	EnrollmentTokens(ctx context.Context, limit int) ([]hub.EnrollmentToken, error)
	RevokeEnrollmentToken(ctx context.Context, id string, now time.Time, ev *hub.AuditEvent) error
	Enroll(ctx context.Context, tokenHash string, now time.Time, a *hub.Agent, ev *hub.AuditEvent) error
	AgentByCredential(ctx context.Context, hash string) (*hub.Agent, error)
	AgentByID(ctx context.Context, id string) (*hub.Agent, error)
	Agents(ctx context.Context, limit int) ([]hub.Agent, error)
	UpdateAgent(ctx context.Context, a *hub.Agent, now time.Time) error
	RevokeAgent(ctx context.Context, id string, now time.Time, ev *hub.AuditEvent) error
	RunByID(ctx context.Context, id string) (*hub.Run, error)
	WorkerStatus(ctx context.Context, id string) (string, error)
}

// pausedPoll is how often a paused agent's long poll checks whether it was
// resumed.
const pausedPoll = time.Second

// RunConfigs hands out the robot configuration of a run a worker holds
// (robotenv.Service).
type RunConfigs interface {
	RunConfig(ctx context.Context, runID, workerID string) (*hub.RunConfig, error)
}

// Config tunes the service.
type Config struct {
	// Version is the hub's version, checked against the agents'.
	Version string
	// Lease is how long an agent's claim lasts without renewal
	// (WORKER_STALE_SECONDS).
	Lease time.Duration
	// MaxWait bounds a long-poll claim (default 30 s).
	MaxWait time.Duration
	// Consumer names the hub's dispatcher on the bus.
	Consumer string
	Clock    hub.Clock
	Logger   *slog.Logger
}

// Service serves enrolment and the agent protocol.
type Service struct {
	store   Store
	state   *runstate.State
	configs RunConfigs
	disp    *dispatcher
	cfg     Config
	clock   hub.Clock
	log     *slog.Logger
}

// New returns the service; Start runs its dispatcher.
func New(store Store, state *runstate.State, q queue, configs RunConfigs, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 30 * time.Second
	}
	if cfg.Consumer == "" {
		cfg.Consumer = "agents"
	}
	return &Service{store: store, state: state, configs: configs, cfg: cfg, clock: cfg.Clock, log: cfg.Logger,
		disp: newDispatcher(q, state, cfg.Consumer, cfg.Logger)}
}

// Start runs the dispatcher until ctx ends.
func (s *Service) Start(ctx context.Context) {
	s.disp.mu.Lock()
	s.disp.stopping = ctx.Done()
	s.disp.mu.Unlock()
	go s.disp.run(ctx)
}

// Version is the hub's version.
func (s *Service) Version() string { return s.cfg.Version }

// IsAgent reports whether workerID is an enrolled agent's.
func (s *Service) IsAgent(ctx context.Context, workerID string) bool {
	if _, err := uuid.Parse(workerID); err != nil {
		return false
	}
	_, err := s.store.AgentByID(ctx, workerID)
	return err == nil
}

// Lease is how long a claim lasts without renewal.
func (s *Service) Lease() time.Duration { return s.cfg.Lease }

// Waiting returns how many agents wait in a long poll.
func (s *Service) Waiting() int { return s.disp.Waiting() }

// Messages.
const (
	msgInvalidCredential = "Invalid agent credential."
	msgRevoked           = "This agent was revoked: enrol it again with a new enrolment token."
	msgNotHeld           = "This run is not held by this agent."
	maxListed            = 1000
)

func newSecret(prefix string) (token, hash, hint string) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token = prefix + base64.RawURLEncoding.EncodeToString(raw)
	return token, Hash(token), token[:len(prefix)+4]
}

// Hash returns the hex SHA-256 of a token, as it is stored.
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// NewEnrollmentToken is what an administrator asks for.
type NewEnrollmentToken struct {
	Name string
	// MaxUses: nil for any number of agents.
	MaxUses   *int
	ExpiresAt *time.Time
}

func mustAdmin(p *hub.Principal) error {
	if !rbac.Has(p, hub.PermAdminManage) {
		return hub.Errorf(hub.EForbidden, "Only administrators manage agents.")
	}
	return nil
}

// CreateEnrollmentToken makes an enrolment token; the token is returned
// this once.
func (s *Service) CreateEnrollmentToken(ctx context.Context, p *hub.Principal, in NewEnrollmentToken) (*hub.EnrollmentToken, string, error) {
	if err := mustAdmin(p); err != nil {
		return nil, "", err
	}
	in.Name = strings.TrimSpace(in.Name)
	now := s.clock.Now().UTC()
	switch {
	case in.Name == "" || len(in.Name) > 200:
		return nil, "", hub.Errorf(hub.EInvalid, "name: 1 to 200 characters.")
	case in.MaxUses != nil && (*in.MaxUses < 1 || *in.MaxUses > 100000):
		return nil, "", hub.Errorf(hub.EInvalid, "max_uses: from 1 to 100000, or omitted for any number.")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return nil, "", hub.Errorf(hub.EInvalid, "expires_at: must be in the future.")
	}
	token, hash, hint := newSecret(hub.EnrollmentTokenPrefix)
	t := &hub.EnrollmentToken{ID: uuid.NewString(), Name: in.Name, Hash: hash, Hint: hint, MaxUses: in.MaxUses, ExpiresAt: in.ExpiresAt, CreatedAt: now}
	if p.User != nil {
		t.CreatedBy = &p.User.ID
	}
	ev := audit.Event(p, "agent_enrollment_token.created", "agent_enrollment_token", t.ID, map[string]any{"name": t.Name, "max_uses": t.MaxUses}, now)
	if err := s.store.CreateEnrollmentToken(ctx, t, ev); err != nil {
		return nil, "", err
	}
	return t, token, nil
}

// EnrollmentTokens lists enrolment tokens, newest first.
func (s *Service) EnrollmentTokens(ctx context.Context, p *hub.Principal) ([]hub.EnrollmentToken, error) {
	if err := mustAdmin(p); err != nil {
		return nil, err
	}
	return s.store.EnrollmentTokens(ctx, maxListed)
}

// RevokeEnrollmentToken stops a token from enrolling more agents.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, p *hub.Principal, id string) error {
	if err := mustAdmin(p); err != nil {
		return err
	}
	if _, err := uuid.Parse(id); err != nil {
		return hub.Errorf(hub.ENotFound, "Enrolment token not found.")
	}
	now := s.clock.Now().UTC()
	return s.store.RevokeEnrollmentToken(ctx, id, now, audit.Event(p, "agent_enrollment_token.revoked", "agent_enrollment_token", id, nil, now))
}

// Agents lists the enrolled agents, newest first.
func (s *Service) Agents(ctx context.Context, p *hub.Principal) ([]hub.Agent, error) {
	if !rbac.Has(p, hub.PermWorkerManage) {
		return nil, hub.Errorf(hub.EForbidden, "You may not see workers.")
	}
	return s.store.Agents(ctx, maxListed)
}

// RevokeAgent cuts an agent off at once: its next request fails with 401;
// the runs it holds end when their lease runs out.
func (s *Service) RevokeAgent(ctx context.Context, p *hub.Principal, id string) error {
	if err := mustAdmin(p); err != nil {
		return err
	}
	if _, err := uuid.Parse(id); err != nil {
		return hub.Errorf(hub.ENotFound, "Agent not found.")
	}
	now := s.clock.Now().UTC()
	return s.store.RevokeAgent(ctx, id, now, audit.Event(p, "agent.revoked", "agent", id, nil, now))
}

// Registration is what an agent says of itself.
type Registration struct {
	Hostname, OS, Version string
	Labels                []string
}

func (r *Registration) check() error {
	r.Hostname, r.OS, r.Version = strings.TrimSpace(r.Hostname), strings.TrimSpace(r.OS), strings.TrimSpace(r.Version)
	switch {
	case r.Hostname == "" || len(r.Hostname) > 255:
		return hub.Errorf(hub.EInvalid, "hostname: 1 to 255 characters.")
	case r.OS == "" || len(r.OS) > 50:
		return hub.Errorf(hub.EInvalid, "os: 1 to 50 characters.")
	case r.Version == "" || len(r.Version) > 50:
		return hub.Errorf(hub.EInvalid, "version: 1 to 50 characters.")
	case len(r.Labels) > 50:
		return hub.Errorf(hub.EInvalid, "labels: at most 50.")
	}
	for _, l := range r.Labels {
		if err := CheckLabel(l); err != nil {
			return err
		}
	}
	r.Labels = slices.Compact(slices.Sorted(slices.Values(r.Labels)))
	return nil
}

// CheckLabel accepts "name" or "name=value" of letters, digits and . _ - :
// (at most 100 characters).
func CheckLabel(l string) error {
	if l == "" || len(l) > 100 {
		return hub.Errorf(hub.EInvalid, "label %q: 1 to 100 characters.", l)
	}
	name, value, _ := strings.Cut(l, "=")
	ok := func(s string, empty bool) bool {
		if s == "" {
			return empty
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:", r)) {
				return false
			}
		}
		return true
	}
	if !ok(name, false) || !ok(value, !strings.Contains(l, "=")) {
		return hub.Errorf(hub.EInvalid, "label %q: use name or name=value, of letters, digits and . _ - :", l)
	}
	return nil
}

// Enrolled is an agent's new identity; Credential is shown this once.
type Enrolled struct {
	AgentID, Credential string
}

// Enroll trades an enrolment token for an agent's own credential.
func (s *Service) Enroll(ctx context.Context, token string, reg Registration, clientIP string) (*Enrolled, error) {
	if !strings.HasPrefix(token, hub.EnrollmentTokenPrefix) {
		return nil, hub.Errorf(hub.EUnauthorized, "Invalid enrolment token.")
	}
	if err := reg.check(); err != nil {
		return nil, err
	}
	if err := CheckVersion(s.cfg.Version, reg.Version); err != nil {
		return nil, err
	}
	cred, hash, _ := newSecret(hub.AgentCredentialPrefix)
	now := s.clock.Now().UTC()
	a := &hub.Agent{ID: uuid.NewString(), Name: reg.Hostname, Hash: hash, Hostname: reg.Hostname, OS: reg.OS, Version: reg.Version, Labels: reg.Labels, CreatedAt: now}
	subject := "agent:" + a.ID
	ev := audit.Event(nil, "agent.enrolled", "agent", a.ID, map[string]any{"hostname": a.Hostname, "os": a.OS, "version": a.Version, "labels": a.Labels}, now)
	ev.ActorSubject = &subject
	if clientIP != "" {
		ev.IP = &clientIP
	}
	if err := s.store.Enroll(ctx, Hash(token), now, a, ev); err != nil {
		return nil, err
	}
	s.log.Info("agent enrolled", "agent_id", a.ID, "hostname", a.Hostname, "os", a.OS, "version", a.Version)
	return &Enrolled{AgentID: a.ID, Credential: cred}, nil
}

// Authenticate resolves an agent's credential (one indexed read).
func (s *Service) Authenticate(ctx context.Context, credential string) (*hub.Agent, error) {
	if !hub.IsAgentCredential(credential) {
		return nil, hub.Errorf(hub.EUnauthorized, msgInvalidCredential)
	}
	a, err := s.store.AgentByCredential(ctx, Hash(credential))
	if hub.ErrorKind(err) == hub.ENotFound {
		return nil, hub.Errorf(hub.EUnauthorized, msgInvalidCredential)
	}
	if err != nil {
		return nil, err
	}
	if a.RevokedAt != nil {
		return nil, hub.Errorf(hub.EUnauthorized, msgRevoked)
	}
	return a, nil
}

// Heartbeat records an agent's state and what it says of itself (its
// worker row, which run routing reads, carries its labels).
func (s *Service) Heartbeat(ctx context.Context, a *hub.Agent, reg Registration, w hub.Worker) error {
	if err := reg.check(); err != nil {
		return err
	}
	if err := CheckVersion(s.cfg.Version, reg.Version); err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	if reg.Hostname != a.Hostname || reg.OS != a.OS || reg.Version != a.Version || !slices.Equal(reg.Labels, a.Labels) ||
		a.LastSeenAt == nil || now.Sub(*a.LastSeenAt) > time.Minute {
		a.Hostname, a.OS, a.Version, a.Labels = reg.Hostname, reg.OS, reg.Version, reg.Labels
		if err := s.store.UpdateAgent(ctx, a, now); err != nil {
			return err
		}
	}
	version := reg.Version
	w.ID, w.Hostname, w.Version, w.Labels = a.ID, reg.Hostname, &version, reg.Labels
	w.Status = hub.WorkerRunning
	if w.Concurrency < 1 {
		w.Concurrency = 1
	}
	w.LastHeartbeat = now
	if w.StartedAt.IsZero() || w.StartedAt.After(now) {
		w.StartedAt = now
	}
	return s.state.Heartbeat(ctx, w)
}

// Stopped marks an agent's worker row stopped.
func (s *Service) Stopped(ctx context.Context, a *hub.Agent) error {
	return s.state.WorkerStopped(ctx, a.ID, s.clock.Now())
}

// Claimed is a run handed to an agent with the version it executes.
type Claimed struct {
	Run     *hub.Run
	Version *hub.Version
}

// Claim waits up to wait (at most MaxWait) for a run this agent may take,
// and claims it with a lease of the hub's lease; nil when none came.
func (s *Service) Claim(ctx context.Context, a *hub.Agent, version string, wait time.Duration) (*Claimed, error) {
	if err := CheckVersion(s.cfg.Version, version); err != nil {
		return nil, err
	}
	wait = min(max(wait, 0), s.cfg.MaxWait)
	if paused, err := s.waitWhilePaused(ctx, a.ID, wait); err != nil || paused {
		// A paused agent finishes its runs and is handed no new ones: its
		// long poll ends empty (and never takes a ready signal from the
		// queue, so the queue does not cycle through it).
		return nil, err
	}
	r := s.disp.wait(ctx, executor.Claim{WorkerID: a.ID, Host: a.Hostname, Lease: s.cfg.Lease}, a.Labels, wait)
	if r == nil {
		return nil, nil
	}
	v, err := s.state.VersionOnly(context.WithoutCancel(ctx), r.VersionID)
	if err != nil {
		// The run is the agent's: it fails it on its side when it cannot
		// read the version, as a worker does.
		return &Claimed{Run: r}, nil
	}
	return &Claimed{Run: r, Version: v}, nil
}

// waitWhilePaused holds the long poll of a paused agent up to wait,
// checking every pausedPoll; paused is false as soon as it is resumed.
func (s *Service) waitWhilePaused(ctx context.Context, id string, wait time.Duration) (paused bool, err error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := s.store.WorkerStatus(ctx, id)
		if err != nil {
			return false, err
		}
		if st != hub.WorkerPaused {
			return false, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true, nil
		}
		t := time.NewTimer(min(left, pausedPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return true, nil
		case <-t.C:
		}
	}
}

// held returns run runID when agent a holds it (RUNNING, leased to it);
// EForbidden for a run of someone else, ENotFound for no run.
func (s *Service) held(ctx context.Context, a *hub.Agent, runID string, running bool) (*hub.Run, error) {
	if _, err := uuid.Parse(runID); err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Run not found.")
	}
	r, err := s.store.RunByID(ctx, runID)
	if err != nil {
		return nil, err
	}
	if r.WorkerID == nil || *r.WorkerID != a.ID || (running && r.Status != hub.RunRunning) {
		return nil, hub.Errorf(hub.EForbidden, msgNotHeld)
	}
	return r, nil
}

// Renew renews the leases of the runs an agent holds.
func (s *Service) Renew(ctx context.Context, a *hub.Agent, runIDs []string) (executor.Leases, error) {
	if len(runIDs) > 1000 {
		return executor.Leases{}, hub.Errorf(hub.EInvalid, "run_ids: at most 1000.")
	}
	ids := slices.DeleteFunc(slices.Clone(runIDs), func(id string) bool { _, err := uuid.Parse(id); return err != nil })
	l, err := s.state.RenewLeases(ctx, a.ID, ids, s.clock.Now().Add(s.cfg.Lease))
	if err != nil {
		return l, err
	}
	if l.Held == nil {
		l.Held = []string{}
	}
	if l.Canceled == nil {
		l.Canceled = []string{}
	}
	return l, nil
}

// AppendLogs stores a batch of an agent's run (idempotent by seq); held is
// false once the run is no longer the agent's.
func (s *Service) AppendLogs(ctx context.Context, a *hub.Agent, runID string, lines []hub.LogLine) (bool, error) {
	if _, err := s.held(ctx, a, runID, false); err != nil {
		return false, err
	}
	if err := checkLines(runID, lines); err != nil {
		return false, err
	}
	return s.state.AppendRunLogs(ctx, runID, a.ID, lines)
}

func checkLines(runID string, lines []hub.LogLine) error {
	if len(lines) > 10000 {
		return hub.Errorf(hub.EInvalid, "lines: at most 10000 per batch.")
	}
	for i := range lines {
		if lines[i].Seq < 1 {
			return hub.Errorf(hub.EInvalid, "lines[%d].seq: must be positive.", i)
		}
		lines[i].RunID = runID
	}
	return nil
}

// LastLogSeq returns the last stored seq of an agent's run.
func (s *Service) LastLogSeq(ctx context.Context, a *hub.Agent, runID string) (int64, error) {
	if _, err := s.held(ctx, a, runID, true); err != nil {
		return 0, err
	}
	return s.state.LastLogSeq(ctx, runID, a.ID)
}

// CancelRequested says whether a user asked to cancel an agent's run.
func (s *Service) CancelRequested(ctx context.Context, a *hub.Agent, runID string) (bool, error) {
	r, err := s.held(ctx, a, runID, false)
	if err != nil {
		return false, err
	}
	return r.CancelRequested, nil
}

// SetProcessID records the robot's process id on the agent.
func (s *Service) SetProcessID(ctx context.Context, a *hub.Agent, runID string, pid int) error {
	if _, err := s.held(ctx, a, runID, true); err != nil {
		return err
	}
	return s.state.SetProcessID(ctx, runID, a.ID, pid)
}

// RunConfig hands an agent the configuration (secrets included) of a run
// it holds, and of no other.
func (s *Service) RunConfig(ctx context.Context, a *hub.Agent, runID string) (*hub.RunConfig, error) {
	if _, err := s.held(ctx, a, runID, true); err != nil {
		return nil, err
	}
	if s.configs == nil {
		return &hub.RunConfig{Env: map[string]string{}, Secrets: map[string]bool{}}, nil
	}
	return s.configs.RunConfig(ctx, runID, a.ID)
}

// OpenPackage streams the package with SHA-256 sum of a run the agent holds.
func (s *Service) OpenPackage(ctx context.Context, a *hub.Agent, runID, sum string) (io.ReadCloser, *hub.Version, error) {
	r, err := s.held(ctx, a, runID, true)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.state.VersionOnly(ctx, r.VersionID)
	if err != nil {
		return nil, nil, err
	}
	if v.ArtifactSHA256 == nil || *v.ArtifactSHA256 != strings.ToLower(sum) {
		return nil, nil, hub.Errorf(hub.ENotFound, "The run's package does not have this SHA-256.")
	}
	rc, err := s.state.OpenPackage(ctx, runID, a.ID, v)
	return rc, v, err
}

// StoreArtifact stores one output file of a run the agent holds.
func (s *Service) StoreArtifact(ctx context.Context, a *hub.Agent, runID, name string, size int64, sum string, body io.Reader) (*hub.Artifact, error) {
	if _, err := s.held(ctx, a, runID, true); err != nil {
		return nil, err
	}
	if len(sum) != 64 {
		return nil, hub.Errorf(hub.EInvalid, "sha256: 64 hexadecimal characters.")
	}
	if size < 0 {
		return nil, hub.Errorf(hub.EInvalid, "Content-Length: required.")
	}
	return s.state.StoreArtifact(ctx, runID, a.ID, name, size, strings.ToLower(sum), body)
}

// Finish records how an agent's run ended. Artifacts must be ones stored
// for this run.
func (s *Service) Finish(ctx context.Context, a *hub.Agent, runID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error) {
	if _, err := s.held(ctx, a, runID, false); err != nil {
		return false, err
	}
	switch res.Status {
	case hub.RunSuccess, hub.RunFailed, hub.RunCanceled:
	default:
		return false, hub.Errorf(hub.EInvalid, "status: SUCCESS, FAILED or CANCELED.")
	}
	if err := checkLines(runID, lines); err != nil {
		return false, err
	}
	if len(arts) > 1000 {
		return false, hub.Errorf(hub.EInvalid, "artifacts: at most 1000.")
	}
	prefix := "runs/" + runID + "/"
	for i := range arts {
		if !strings.HasPrefix(arts[i].Path, prefix) || !runstate.ValidArtifactName(strings.TrimPrefix(arts[i].Path, prefix)) {
			return false, hub.Errorf(hub.EInvalid, "artifacts[%d]: not an artifact of this run.", i)
		}
		if _, err := uuid.Parse(arts[i].ID); err != nil {
			return false, hub.Errorf(hub.EInvalid, "artifacts[%d].id: a UUID.", i)
		}
		arts[i].RunID = runID
	}
	if res.FinishedAt.IsZero() {
		res.FinishedAt = s.clock.Now()
	}
	return s.state.FinishRun(ctx, runID, a.ID, res, lines, arts)
}

// Fail ends an agent's run FAILED before its robot ran.
func (s *Service) Fail(ctx context.Context, a *hub.Agent, runID, errMsg, logMsg string) error {
	if _, err := s.held(ctx, a, runID, true); err != nil {
		return err
	}
	return s.state.FailRun(ctx, runID, a.ID, errMsg, logMsg)
}

// Discard frees artifacts of an agent's run that will not be recorded.
func (s *Service) Discard(ctx context.Context, a *hub.Agent, runID string, arts []hub.Artifact) error {
	if _, err := s.held(ctx, a, runID, false); err != nil {
		return err
	}
	prefix := "runs/" + runID + "/"
	arts = slices.DeleteFunc(arts, func(x hub.Artifact) bool { return !strings.HasPrefix(x.Path, prefix) })
	s.state.DiscardArtifacts(ctx, runID, a.ID, arts)
	return nil
}
