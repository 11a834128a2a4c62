package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/agents"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
)

// Agents serves enrolment and the remote agent protocol (agents.Service).
type Agents interface {
	Version() string
	// Lease is how long a claim lasts without renewal.
	Lease() time.Duration
	CreateEnrollmentToken(ctx context.Context, p *hub.Principal, in agents.NewEnrollmentToken) (*hub.EnrollmentToken, string, error)
	EnrollmentTokens(ctx context.Context, p *hub.Principal) ([]hub.EnrollmentToken, error)
	RevokeEnrollmentToken(ctx context.Context, p *hub.Principal, id string) error
	Agents(ctx context.Context, p *hub.Principal) ([]hub.Agent, error)
	RevokeAgent(ctx context.Context, p *hub.Principal, id string) error
	Enroll(ctx context.Context, token string, reg agents.Registration, clientIP string) (*agents.Enrolled, error)
	Authenticate(ctx context.Context, credential string) (*hub.Agent, error)
	Heartbeat(ctx context.Context, a *hub.Agent, reg agents.Registration, w hub.Worker) error
	Stopped(ctx context.Context, a *hub.Agent) error
	Claim(ctx context.Context, a *hub.Agent, version string, wait time.Duration) (*agents.Claimed, error)
	Renew(ctx context.Context, a *hub.Agent, runIDs []string) (executor.Leases, error)
	AppendLogs(ctx context.Context, a *hub.Agent, runID string, lines []hub.LogLine) (bool, error)
	LastLogSeq(ctx context.Context, a *hub.Agent, runID string) (int64, error)
	CancelRequested(ctx context.Context, a *hub.Agent, runID string) (bool, error)
	SetProcessID(ctx context.Context, a *hub.Agent, runID string, pid int) error
	RunConfig(ctx context.Context, a *hub.Agent, runID string) (*hub.RunConfig, error)
	OpenPackage(ctx context.Context, a *hub.Agent, runID, sum string) (io.ReadCloser, *hub.Version, error)
	StoreArtifact(ctx context.Context, a *hub.Agent, runID, name string, size int64, sum string, body io.Reader) (*hub.Artifact, error)
	Finish(ctx context.Context, a *hub.Agent, runID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error)
	Fail(ctx context.Context, a *hub.Agent, runID, errMsg, logMsg string) error
	Discard(ctx context.Context, a *hub.Agent, runID string, arts []hub.Artifact) error
}

const (
	metaAgent   = "agent"
	tagAgents   = "Agents"
	tagProtocol = "Agent protocol"
	// agentScheme is the credential an agent got at enrolment.
	agentScheme = "agentCredential"
	// agentBodyBytes bounds a log batch or a run's end.
	agentBodyBytes = 32 << 20
)

// EnrollmentTokenRead is an enrolment token as the API shows it (never the
// token, but once at creation).
type EnrollmentTokenRead struct {
	ID        string     `json:"id" format:"uuid"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint" doc:"The token's first characters."`
	MaxUses   *int       `json:"max_uses" doc:"How many agents may enrol with it; null: any number."`
	Uses      int        `json:"uses"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy *string    `json:"created_by" format:"uuid"`
}

func enrollmentTokenRead(t *hub.EnrollmentToken) EnrollmentTokenRead {
	return EnrollmentTokenRead{ID: t.ID, Name: t.Name, Hint: t.Hint, MaxUses: t.MaxUses, Uses: t.Uses, ExpiresAt: t.ExpiresAt,
		RevokedAt: t.RevokedAt, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy}
}

// AgentRead is an enrolled agent.
type AgentRead struct {
	ID         string     `json:"id" format:"uuid" doc:"Also its worker id."`
	Hostname   string     `json:"hostname"`
	OS         string     `json:"os"`
	Version    string     `json:"version"`
	Labels     []string   `json:"labels"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// AgentLine is one log line an agent sends.
type AgentLine struct {
	Seq       int64     `json:"seq" minimum:"1"`
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level" maxLength:"20"`
	Message   string    `json:"message"`
}

func agentLines(in []AgentLine) []hub.LogLine {
	out := make([]hub.LogLine, len(in))
	for i, l := range in {
		out[i] = hub.LogLine{Seq: l.Seq, Timestamp: l.Timestamp, Level: l.Level, Message: l.Message}
	}
	return out
}

// AgentArtifact is an artifact the hub stored for an agent's run.
type AgentArtifact struct {
	ID          string    `json:"id" format:"uuid"`
	Name        string    `json:"name"`
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	ContentType *string   `json:"content_type,omitempty"`
	SHA256      *string   `json:"sha256,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func agentArtifact(a *hub.Artifact) AgentArtifact {
	return AgentArtifact{ID: a.ID, Name: a.Name, Path: a.Path, Size: a.Size, ContentType: a.ContentType, SHA256: a.SHA256, CreatedAt: a.CreatedAt}
}

// AgentRegistration is what an agent says of itself.
type AgentRegistration struct {
	Hostname string   `json:"hostname" minLength:"1" maxLength:"255"`
	OS       string   `json:"os" minLength:"1" maxLength:"50"`
	Version  string   `json:"version" minLength:"1" maxLength:"50"`
	Labels   []string `json:"labels,omitempty" maxItems:"50"`
}

func (r AgentRegistration) reg() agents.Registration {
	return agents.Registration{Hostname: r.Hostname, OS: r.OS, Version: r.Version, Labels: r.Labels}
}

// AgentRunPath names a run the calling agent holds.
type AgentRunPath struct {
	RunID string `path:"run_id" doc:"A run this agent holds."`
}

func (s *Server) agentFrom(ctx context.Context, authorization string) (*hub.Agent, error) {
	if s.agents == nil {
		return nil, hub.Errorf(hub.EUnavailable, "Remote agents are not available on this server.")
	}
	tok, ok := bearerToken(authorization)
	if !ok {
		return nil, hub.Errorf(hub.EUnauthorized, "Not authenticated")
	}
	return s.agents.Authenticate(ctx, tok)
}

type agentKey struct{}

// agentOf is the agent authenticated for an operation of the protocol.
func agentOf(ctx context.Context) *hub.Agent {
	a, _ := ctx.Value(agentKey{}).(*hub.Agent)
	return a
}

// agentOp documents an operation of the agent protocol; authMiddleware
// authenticates the agent before its input is read.
func agentOp(op huma.Operation) huma.Operation {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metaAgent] = true
	op.Tags = []string{tagProtocol}
	op.Security = []map[string][]string{{agentScheme: {}}}
	op.Errors = append(op.Errors, http.StatusUnauthorized)
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = agentBodyBytes
	}
	return op
}

type agentMessageOutput struct {
	Body MessageBody
}

func ok(msg string) *agentMessageOutput { return &agentMessageOutput{Body: MessageBody{Message: msg}} }

func (s *Server) registerAgentRoutes() {
	s.api.OpenAPI().Components.SecuritySchemes[agentScheme] = &huma.SecurityScheme{Type: "http", Scheme: "bearer",
		Description: "An agent's own credential (hubagent_…), from POST /api/v1/agent/enroll."}
	s.registerAgentAdminRoutes()

	type agentEnrollInput struct {
		Body struct {
			Token string `json:"token" minLength:"1" maxLength:"200" doc:"An enrolment token (hubenroll_…)."`
			AgentRegistration
		}
	}
	type agentEnrollOutput struct {
		Body struct {
			AgentID    string `json:"agent_id" format:"uuid"`
			Credential string `json:"credential" doc:"The agent's own credential: keep it (it is not shown again)."`
			HubVersion string `json:"hub_version"`
		}
	}
	register(s, huma.Operation{
		OperationID: "agent-enroll", Method: http.MethodPost, Path: APIPrefix + "/agent/enroll", Tags: []string{tagProtocol},
		Summary: "Trade an enrolment token for an agent credential",
		Description: "The agent says who it is (hostname, OS, version, labels); the hub checks its version (one minor version " +
			"behind works; otherwise 409 says what to upgrade) and answers with the agent's own credential, stored hashed. Audited (`agent.enrolled`).",
		DefaultStatus: http.StatusCreated, MaxBodyBytes: 64 << 10,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, true, func(ctx context.Context, in *agentEnrollInput) (*agentEnrollOutput, error) {
		if s.agents == nil {
			return nil, hub.Errorf(hub.EUnavailable, "Remote agents are not available on this server.")
		}
		e, err := s.agents.Enroll(ctx, in.Body.Token, in.Body.reg(), ClientIP(ctx))
		if err != nil {
			return nil, err
		}
		out := &agentEnrollOutput{}
		out.Body.AgentID, out.Body.Credential, out.Body.HubVersion = e.AgentID, e.Credential, s.agents.Version()
		return out, nil
	})

	type agentHeartbeatInput struct {
		Body struct {
			AgentRegistration
			Concurrency int       `json:"concurrency" minimum:"1" maximum:"1000"`
			RunningRuns int       `json:"running_runs,omitempty" minimum:"0"`
			StartedAt   time.Time `json:"started_at,omitempty"`
		}
	}
	type agentVersionOutput struct {
		Body struct {
			HubVersion   string `json:"hub_version"`
			LeaseSeconds int    `json:"lease_seconds" doc:"How long a claim lasts without renewal: renew three times as often."`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-heartbeat", Method: http.MethodPost, Path: APIPrefix + "/agent/heartbeat",
		Summary:     "Say the agent is alive (its worker row: labels, concurrency, running runs)",
		Description: "Also checks the agent's version: 409 says what to upgrade.",
		Errors:      []int{http.StatusBadRequest, http.StatusConflict},
	}), false, func(ctx context.Context, in *agentHeartbeatInput) (*agentVersionOutput, error) {
		a := agentOf(ctx)
		b := in.Body
		if err := s.agents.Heartbeat(ctx, a, b.reg(), hub.Worker{Concurrency: b.Concurrency, RunningRuns: b.RunningRuns, StartedAt: b.StartedAt}); err != nil {
			return nil, err
		}
		out := &agentVersionOutput{}
		out.Body.HubVersion, out.Body.LeaseSeconds = s.agents.Version(), int(s.agents.Lease()/time.Second)
		return out, nil
	})

	register(s, agentOp(huma.Operation{
		OperationID: "agent-stopped", Method: http.MethodPost, Path: APIPrefix + "/agent/stopped",
		Summary: "Say the agent stopped (its worker row turns STOPPED)",
	}), false, func(ctx context.Context, _ *struct{}) (*agentMessageOutput, error) {
		a := agentOf(ctx)
		if err := s.agents.Stopped(ctx, a); err != nil {
			return nil, err
		}
		return ok("Stopped."), nil
	})

	type agentClaimInput struct {
		Body struct {
			Version     string `json:"version" minLength:"1" maxLength:"50" doc:"The agent's version."`
			WaitSeconds int    `json:"wait_seconds,omitempty" minimum:"0" maximum:"60" doc:"How long to wait for a run (the hub holds at most 30 s)."`
		}
	}
	type agentClaimOutput struct {
		Body struct {
			HubVersion string       `json:"hub_version"`
			Run        *hub.Run     `json:"run" doc:"The run now RUNNING and leased to this agent; null: none came."`
			Version    *hub.Version `json:"version" doc:"The version the run executes."`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-claim", Method: http.MethodPost, Path: APIPrefix + "/agent/claim",
		Summary: "Wait for a run and claim it (long poll)",
		Description: "Held until a run this agent may take is ready (its labels, limits, pause) or wait_seconds pass. A waiting " +
			"agent costs the hub a parked request: one dispatcher per hub takes ready signals and claims for the agent that waited longest.",
		Errors: []int{http.StatusConflict},
	}), false, func(ctx context.Context, in *agentClaimInput) (*agentClaimOutput, error) {
		a := agentOf(ctx)
		c, err := s.agents.Claim(ctx, a, in.Body.Version, time.Duration(in.Body.WaitSeconds)*time.Second)
		if err != nil {
			return nil, err
		}
		out := &agentClaimOutput{}
		out.Body.HubVersion = s.agents.Version()
		if c != nil {
			out.Body.Run, out.Body.Version = c.Run, c.Version
		}
		return out, nil
	})

	type agentLeasesInput struct {
		Body struct {
			RunIDs []string `json:"run_ids,omitempty" maxItems:"1000"`
		}
	}
	type agentLeasesOutput struct {
		Body struct {
			Held     []string `json:"held" doc:"Runs still this agent's (leases renewed)."`
			Canceled []string `json:"canceled" doc:"Held runs a user asked to cancel."`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-renew-leases", Method: http.MethodPost, Path: APIPrefix + "/agent/leases",
		Summary: "Renew the leases of the runs the agent holds",
		Description: "A run missing from held is no longer the agent's (its lease ran out): the agent stops its robot. " +
			"An agent that cannot renew for a whole lease stops its robots too: never two copies running.",
	}), false, func(ctx context.Context, in *agentLeasesInput) (*agentLeasesOutput, error) {
		a := agentOf(ctx)
		l, err := s.agents.Renew(ctx, a, in.Body.RunIDs)
		if err != nil {
			return nil, err
		}
		out := &agentLeasesOutput{}
		out.Body.Held, out.Body.Canceled = l.Held, l.Canceled
		return out, nil
	})

	// Log batches are the hot path of an agent: a plain handler decodes
	// them once (huma would decode twice, to validate).
	lineSchema := s.api.OpenAPI().Components.Schemas.Schema(reflectTypeOf[AgentLine](), true, "AgentLine")
	s.handlePlain(&huma.Operation{
		OperationID: "agent-append-logs", Method: http.MethodPost, Path: APIPrefix + "/agent/runs/{run_id}/logs",
		Tags: []string{tagProtocol}, Summary: "Store a batch of log lines (idempotent by seq)",
		Description: "At most 10000 lines. A batch sent again (its answer was lost) changes nothing. Viewers get the lines live. " +
			"`held` false: the run is no longer this agent's; stop its robot.",
		Parameters: []*huma.Param{{Name: "run_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}}},
		Security:   []map[string][]string{{agentScheme: {}}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{
			Type: huma.TypeObject, Required: []string{"lines"},
			Properties: map[string]*huma.Schema{"lines": {Type: huma.TypeArray, Items: lineSchema, MaxItems: ptrInt(10000)}},
		}}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "Stored.", Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{
				Type: huma.TypeObject, Required: []string{"held"}, Properties: map[string]*huma.Schema{"held": {Type: huma.TypeBoolean}}}}}},
			"400": {Description: "Invalid lines."}, "401": {Description: "Invalid agent credential."},
			"403": {Description: "Not a run of this agent."}, "404": {Description: "No such run."},
			"413": {Description: "Body too large."},
		},
	}, false, http.HandlerFunc(s.agentLogs))

	type agentSeqOutput struct {
		Body struct {
			Seq int64 `json:"seq"`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-last-log-seq", Method: http.MethodGet, Path: APIPrefix + "/agent/runs/{run_id}/logs/last-seq",
		Summary: "The last stored seq of a held run's log",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *AgentRunPath) (*agentSeqOutput, error) {
		a := agentOf(ctx)
		seq, err := s.agents.LastLogSeq(ctx, a, in.RunID)
		if err != nil {
			return nil, err
		}
		out := &agentSeqOutput{}
		out.Body.Seq = seq
		return out, nil
	})

	type agentCancelOutput struct {
		Body struct {
			Requested bool `json:"requested"`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-cancel-requested", Method: http.MethodGet, Path: APIPrefix + "/agent/runs/{run_id}/cancel",
		Summary: "Whether a user asked to cancel a held run",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *AgentRunPath) (*agentCancelOutput, error) {
		a := agentOf(ctx)
		yes, err := s.agents.CancelRequested(ctx, a, in.RunID)
		if err != nil {
			return nil, err
		}
		out := &agentCancelOutput{}
		out.Body.Requested = yes
		return out, nil
	})

	type agentPidInput struct {
		AgentRunPath
		Body struct {
			PID int `json:"pid" minimum:"1"`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-set-pid", Method: http.MethodPut, Path: APIPrefix + "/agent/runs/{run_id}/pid",
		Summary: "Record the robot's process id on the agent",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *agentPidInput) (*agentMessageOutput, error) {
		a := agentOf(ctx)
		if err := s.agents.SetProcessID(ctx, a, in.RunID, in.Body.PID); err != nil {
			return nil, err
		}
		return ok("Recorded."), nil
	})

	type agentConfigOutput struct {
		Body struct {
			Env     map[string]string `json:"env"`
			Secrets []string          `json:"secrets" doc:"Which names of env are secrets (masked in everything written about the run)."`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-run-config", Method: http.MethodGet, Path: APIPrefix + "/agent/runs/{run_id}/config",
		Summary:     "The robot configuration of a held run, secrets included",
		Description: "Only for a RUNNING run this agent holds: any other run answers 403.",
		Errors:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *AgentRunPath) (*agentConfigOutput, error) {
		a := agentOf(ctx)
		c, err := s.agents.RunConfig(ctx, a, in.RunID)
		if err != nil {
			return nil, err
		}
		out := &agentConfigOutput{}
		out.Body.Env, out.Body.Secrets = c.Env, []string{}
		if out.Body.Env == nil {
			out.Body.Env = map[string]string{}
		}
		for k, yes := range c.Secrets {
			if yes {
				out.Body.Secrets = append(out.Body.Secrets, k)
			}
		}
		return out, nil
	})

	type agentFinishInput struct {
		AgentRunPath
		Body struct {
			Status       string          `json:"status" enum:"SUCCESS,FAILED,CANCELED"`
			ExitCode     *int            `json:"exit_code,omitempty" nullable:"true"`
			ErrorMessage *string         `json:"error_message,omitempty" nullable:"true"`
			FinishedAt   time.Time       `json:"finished_at,omitempty"`
			Lines        []AgentLine     `json:"lines,omitempty" maxItems:"10000"`
			Artifacts    []AgentArtifact `json:"artifacts,omitempty" maxItems:"1000"`
		}
	}
	type agentFinishOutput struct {
		Body struct {
			Recorded bool `json:"recorded" doc:"False: the run was no longer this agent's; the result was discarded."`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-finish-run", Method: http.MethodPost, Path: APIPrefix + "/agent/runs/{run_id}/finish",
		Summary: "Record how a held run ended, with its last lines and its artifacts",
		Errors:  []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *agentFinishInput) (*agentFinishOutput, error) {
		a := agentOf(ctx)
		b := in.Body
		arts := make([]hub.Artifact, len(b.Artifacts))
		for i, x := range b.Artifacts {
			arts[i] = hub.Artifact{ID: x.ID, Name: x.Name, Path: x.Path, Size: x.Size, ContentType: x.ContentType, SHA256: x.SHA256, CreatedAt: x.CreatedAt}
		}
		done, err := s.agents.Finish(ctx, a, in.RunID, hub.RunResult{Status: b.Status, ExitCode: b.ExitCode, ErrorMessage: b.ErrorMessage, FinishedAt: b.FinishedAt},
			agentLines(b.Lines), arts)
		if err != nil {
			return nil, err
		}
		out := &agentFinishOutput{}
		out.Body.Recorded = done
		return out, nil
	})

	type agentFailInput struct {
		AgentRunPath
		Body struct {
			Error string `json:"error" maxLength:"10000"`
			Log   string `json:"log,omitempty" maxLength:"10000"`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-fail-run", Method: http.MethodPost, Path: APIPrefix + "/agent/runs/{run_id}/fail",
		Summary: "End a held run FAILED before its robot ran",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *agentFailInput) (*agentMessageOutput, error) {
		a := agentOf(ctx)
		if err := s.agents.Fail(ctx, a, in.RunID, in.Body.Error, in.Body.Log); err != nil {
			return nil, err
		}
		return ok("Recorded."), nil
	})

	type agentDiscardInput struct {
		AgentRunPath
		Body struct {
			Artifacts []AgentArtifact `json:"artifacts" maxItems:"1000"`
		}
	}
	register(s, agentOp(huma.Operation{
		OperationID: "agent-discard-artifacts", Method: http.MethodPost, Path: APIPrefix + "/agent/runs/{run_id}/artifacts/discard",
		Summary: "Free artifacts of a held run that will not be recorded (a full disk)",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}), false, func(ctx context.Context, in *agentDiscardInput) (*agentMessageOutput, error) {
		a := agentOf(ctx)
		arts := make([]hub.Artifact, len(in.Body.Artifacts))
		for i, x := range in.Body.Artifacts {
			arts[i] = hub.Artifact{ID: x.ID, Path: x.Path}
		}
		if err := s.agents.Discard(ctx, a, in.RunID, arts); err != nil {
			return nil, err
		}
		return ok("Discarded."), nil
	})

	str := &huma.Schema{Type: huma.TypeString}
	s.handlePlain(&huma.Operation{
		OperationID: "agent-download-package", Method: http.MethodGet, Path: APIPrefix + "/agent/runs/{run_id}/package/{sha256}",
		Tags: []string{tagProtocol}, Summary: "Download the package of a held run by its SHA-256",
		Description: "Streams the package; the agent checks its SHA-256 and keeps it in its cache.",
		Parameters: []*huma.Param{
			{Name: "run_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "sha256", In: "path", Required: true, Schema: str},
		},
		Security: []map[string][]string{{agentScheme: {}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The package.", Content: map[string]*huma.MediaType{"application/octet-stream": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}}},
			"401": {Description: "Invalid agent credential."}, "403": {Description: "Not a run this agent holds."},
			"404": {Description: "No such run or package."},
		},
	}, false, http.HandlerFunc(s.agentPackage))
	s.handlePlain(&huma.Operation{
		OperationID: "agent-upload-artifact", Method: http.MethodPut, Path: APIPrefix + "/agent/runs/{run_id}/artifacts",
		Tags: []string{tagProtocol}, Summary: "Upload one output file of a held run (a stream)",
		Description: "The body is the file; Content-Length is required, and the hub checks the SHA-256 given in the query and " +
			"MAX_ARTIFACT_BYTES (413). The answer describes the stored artifact, to list in the run's finish.",
		Parameters: []*huma.Param{
			{Name: "run_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "name", In: "query", Required: true, Schema: str, Description: "Path inside the run: run.log, outputs/…, workspace/…"},
			{Name: "sha256", In: "query", Required: true, Schema: str, Description: "SHA-256 of the body (hex)."},
		},
		Security:    []map[string][]string{{agentScheme: {}}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/octet-stream": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}}},
		Responses: map[string]*huma.Response{
			"201": {Description: "The stored artifact.", Content: map[string]*huma.MediaType{"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectTypeOf[AgentArtifact](), true, "AgentArtifact")}}},
			"400": {Description: "Invalid name, size or SHA-256."}, "401": {Description: "Invalid agent credential."},
			"403": {Description: "Not a run this agent holds."}, "404": {Description: "No such run."},
			"413": {Description: "Over MAX_ARTIFACT_BYTES."},
		},
	}, false, http.HandlerFunc(s.agentArtifact))
}

func ptrInt(n int) *int { return &n }

// agentLogs stores a batch of log lines of a run the agent holds.
func (s *Server) agentLogs(w http.ResponseWriter, r *http.Request) {
	a, err := s.agentFrom(r.Context(), r.Header.Get("Authorization"))
	if err == nil {
		err = refuseNULRequest(r)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body struct {
		Lines []AgentLine `json:"lines"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, agentBodyBytes))
	if err := dec.Decode(&body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, r, hub.Errorf(hub.ETooLarge, "The batch is over %d bytes.", agentBodyBytes))
			return
		}
		writeError(w, r, hub.Errorf(hub.EInvalid, "The body must be {\"lines\": [...]}: %v", err))
		return
	}
	for i, l := range body.Lines {
		if l.Level == "" || len(l.Level) > 20 || strings.IndexByte(l.Message, 0) >= 0 || strings.IndexByte(l.Level, 0) >= 0 {
			writeError(w, r, hub.Errorf(hub.EInvalid, "lines[%d]: a level of 1 to 20 characters and no NUL character.", i))
			return
		}
	}
	held, err := s.agents.AppendLogs(r.Context(), a, r.PathValue("run_id"), agentLines(body.Lines))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"held": held})
}

func (s *Server) agentPackage(w http.ResponseWriter, r *http.Request) {
	a, err := s.agentFrom(r.Context(), r.Header.Get("Authorization"))
	if err == nil {
		err = refuseNULRequest(r)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	rc, _, err := s.agents.OpenPackage(r.Context(), a, r.PathValue("run_id"), r.PathValue("sha256"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if f, ok := rc.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if st, err := f.Stat(); err == nil {
			w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
}

func (s *Server) agentArtifact(w http.ResponseWriter, r *http.Request) {
	a, err := s.agentFrom(r.Context(), r.Header.Get("Authorization"))
	if err == nil {
		err = refuseNULRequest(r)
	}
	if err == nil && r.ContentLength < 0 {
		err = hub.Errorf(hub.EInvalid, "Content-Length: required.")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	art, err := s.agents.StoreArtifact(r.Context(), a, r.PathValue("run_id"), q.Get("name"), r.ContentLength, q.Get("sha256"), r.Body)
	if err != nil {
		writeError(w, r, fmt.Errorf("agent artifact: %w", err))
		return
	}
	writeJSON(w, http.StatusCreated, agentArtifact(art))
}

func (s *Server) registerAgentAdminRoutes() {
	agentsOr := func() (Agents, error) {
		if s.agents == nil {
			return nil, hub.Errorf(hub.EUnavailable, "Remote agents are not available on this server.")
		}
		return s.agents, nil
	}
	type agentCreateInput struct {
		Body struct {
			Name           string     `json:"name" minLength:"1" maxLength:"200"`
			MaxUses        *int       `json:"max_uses,omitempty" nullable:"true" minimum:"1" maximum:"100000" doc:"How many agents may enrol with it; omitted: any number until it expires."`
			ExpiresAt      *time.Time `json:"expires_at,omitempty" nullable:"true"`
			ExpiresInHours *int       `json:"expires_in_hours,omitempty" nullable:"true" minimum:"1" maximum:"87600" doc:"Alternative to expires_at; neither: 24 hours."`
		}
	}
	type agentCreatedOutput struct {
		Body struct {
			EnrollmentTokenRead
			Token string `json:"token" doc:"The enrolment token: shown this once. hub agent --token <token>."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "create-agent-enrollment-token", Method: http.MethodPost, Path: APIPrefix + "/agents/enrollment-tokens", Tags: []string{tagAgents},
		Summary:       "Create an enrolment token for remote agents",
		Description:   "Single use (`max_uses: 1`) or multi-use, with an expiry. The token is in the answer once; only its SHA-256 is stored. Audited.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *agentCreateInput) (*agentCreatedOutput, error) {
		ag, err := agentsOr()
		if err != nil {
			return nil, err
		}
		b := in.Body
		exp := b.ExpiresAt
		if exp == nil {
			h := 24
			if b.ExpiresInHours != nil {
				h = *b.ExpiresInHours
			}
			at := time.Now().UTC().Add(time.Duration(h) * time.Hour)
			exp = &at
		}
		t, tok, err := ag.CreateEnrollmentToken(ctx, principalFrom(ctx), agents.NewEnrollmentToken{Name: b.Name, MaxUses: b.MaxUses, ExpiresAt: exp})
		if err != nil {
			return nil, err
		}
		out := &agentCreatedOutput{}
		out.Body.EnrollmentTokenRead, out.Body.Token = enrollmentTokenRead(t), tok
		return out, nil
	})

	type agentTokensOutput struct {
		Body []EnrollmentTokenRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-agent-enrollment-tokens", Method: http.MethodGet, Path: APIPrefix + "/agents/enrollment-tokens", Tags: []string{tagAgents},
		Summary: "Enrolment tokens, newest first",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, _ *struct{}) (*agentTokensOutput, error) {
		ag, err := agentsOr()
		if err != nil {
			return nil, err
		}
		list, err := ag.EnrollmentTokens(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &agentTokensOutput{Body: make([]EnrollmentTokenRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, enrollmentTokenRead(&list[i]))
		}
		return out, nil
	})

	type agentRevokeTokenInput struct {
		TokenID string `path:"token_id" doc:"Enrolment token id (UUID)."`
	}
	register(s, protect(huma.Operation{
		OperationID: "revoke-agent-enrollment-token", Method: http.MethodDelete, Path: APIPrefix + "/agents/enrollment-tokens/{token_id}", Tags: []string{tagAgents},
		Summary: "Revoke an enrolment token (agents it enrolled keep working)", Errors: []int{http.StatusNotFound},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *agentRevokeTokenInput) (*agentMessageOutput, error) {
		ag, err := agentsOr()
		if err != nil {
			return nil, err
		}
		if err := ag.RevokeEnrollmentToken(ctx, principalFrom(ctx), in.TokenID); err != nil {
			return nil, err
		}
		return ok("Enrolment token revoked."), nil
	})

	type agentAgentsOutput struct {
		Body []AgentRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-agents", Method: http.MethodGet, Path: APIPrefix + "/agents", Tags: []string{tagAgents},
		Summary: "Enrolled remote agents, newest first", Description: "Each is also in the workers list (its id is its worker id).",
	}, string(hub.PermWorkerManage)), false, func(ctx context.Context, _ *struct{}) (*agentAgentsOutput, error) {
		ag, err := agentsOr()
		if err != nil {
			return nil, err
		}
		list, err := ag.Agents(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &agentAgentsOutput{Body: make([]AgentRead, 0, len(list))}
		for _, a := range list {
			out.Body = append(out.Body, AgentRead{ID: a.ID, Hostname: a.Hostname, OS: a.OS, Version: a.Version, Labels: a.Labels,
				CreatedAt: a.CreatedAt, LastSeenAt: a.LastSeenAt, RevokedAt: a.RevokedAt})
		}
		return out, nil
	})

	type agentRevokeAgentInput struct {
		AgentID string `path:"agent_id" doc:"Agent id (UUID)."`
	}
	register(s, protect(huma.Operation{
		OperationID: "revoke-agent", Method: http.MethodDelete, Path: APIPrefix + "/agents/{agent_id}", Tags: []string{tagAgents},
		Summary:     "Revoke an agent: its next request is refused (401)",
		Description: "The runs it holds end FAILED when their lease runs out. Audited (`agent.revoked`).",
		Errors:      []int{http.StatusNotFound},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *agentRevokeAgentInput) (*agentMessageOutput, error) {
		ag, err := agentsOr()
		if err != nil {
			return nil, err
		}
		if err := ag.RevokeAgent(ctx, principalFrom(ctx), in.AgentID); err != nil {
			return nil, err
		}
		return ok("Agent revoked."), nil
	})
}
