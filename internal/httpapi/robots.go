package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/pools"
	"automationhub/internal/registry"
)

// Registry is what the robot endpoints need from the registry service.
type Registry interface {
	CreateRobot(ctx context.Context, p *hub.Principal, in registry.NewRobot) (*registry.RobotView, error)
	ListRobots(ctx context.Context, p *hub.Principal, in registry.ListInput) ([]registry.RobotView, int, error)
	GetRobot(ctx context.Context, p *hub.Principal, id string) (*registry.RobotView, error)
	UpdateDescription(ctx context.Context, p *hub.Principal, id string, desc *string) (*registry.RobotView, error)
	SetTags(ctx context.Context, p *hub.Principal, id string, tags []string) (*registry.RobotView, error)
	Versions(ctx context.Context, p *hub.Principal, id string) ([]hub.Version, error)
	AuthorizePublish(ctx context.Context, p *hub.Principal, robotID string) error
	NewUpload() (*blob.Upload, error)
	TooLarge() error
	Publish(ctx context.Context, p *hub.Principal, robotID string, in registry.PublishInput, up *blob.Upload) (*hub.Version, error)
	Activate(ctx context.Context, p *hub.Principal, robotID, versionID string) (*hub.Version, error)
	Prepare(ctx context.Context, p *hub.Principal, robotID, versionID string) (*hub.PrepareRequest, error)
	Environments(ctx context.Context, p *hub.Principal, robotID, versionID string) ([]hub.WorkerEnv, error)
	OpenArtifact(ctx context.Context, p *hub.Principal, robotID, versionID string) (*registry.Artifact, error)
}

// RobotVersionRead is a version as the API shows it.
type RobotVersionRead struct {
	ID                  string            `json:"id" format:"uuid"`
	RobotID             string            `json:"robot_id" format:"uuid"`
	Version             string            `json:"version"`
	Channel             string            `json:"channel" enum:"stable,beta,hotfix"`
	ArtifactType        string            `json:"artifact_type" enum:"ZIP,EXE"`
	ArtifactPath        *string           `json:"artifact_path" doc:"Artifact store key; null when the version has no package."`
	ArtifactSHA256      *string           `json:"artifact_sha256"`
	ArtifactSizeBytes   *int64            `json:"artifact_size_bytes"`
	Changelog           *string           `json:"changelog"`
	CommitSHA           *string           `json:"commit_sha"`
	Branch              *string           `json:"branch"`
	BuildURL            *string           `json:"build_url"`
	CreatedSource       string            `json:"created_source" enum:"user,github_actions"`
	RequiredEnvKeysJSON []string          `json:"required_env_keys_json"`
	EntrypointType      string            `json:"entrypoint_type" enum:"PYTHON,EXE"`
	EntrypointPath      string            `json:"entrypoint_path"`
	Arguments           []string          `json:"arguments"`
	EnvVars             map[string]string `json:"env_vars" doc:"Values are masked unless the caller may publish the robot."`
	WorkingDirectory    *string           `json:"working_directory"`
	Checksum            *string           `json:"checksum"`
	CreatedBy           *string           `json:"created_by" format:"uuid"`
	CreatedAt           time.Time         `json:"created_at"`
	IsActive            bool              `json:"is_active"`
}

func versionRead(v *hub.Version) RobotVersionRead {
	return RobotVersionRead{
		ID: v.ID, RobotID: v.RobotID, Version: v.Version, Channel: v.Channel, ArtifactType: v.ArtifactType,
		ArtifactPath: v.ArtifactPath, ArtifactSHA256: v.ArtifactSHA256, ArtifactSizeBytes: v.ArtifactSize,
		Changelog: v.Changelog, CommitSHA: v.CommitSHA, Branch: v.Branch, BuildURL: v.BuildURL,
		CreatedSource: v.CreatedSource, RequiredEnvKeysJSON: v.RequiredEnvKeys, EntrypointType: v.EntrypointType,
		EntrypointPath: v.EntrypointPath, Arguments: v.Arguments, EnvVars: v.EnvVars, WorkingDirectory: v.WorkingDirectory,
		Checksum: v.Checksum, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt, IsActive: v.IsActive,
	}
}

// RobotRead is a robot with its versions, newest first.
type RobotRead struct {
	ID          string             `json:"id" format:"uuid"`
	Name        string             `json:"name"`
	Description *string            `json:"description"`
	Tags        []string           `json:"tags"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	Versions    []RobotVersionRead `json:"versions"`
	// Run settings.
	MaxConcurrentRuns   *int     `json:"max_concurrent_runs" doc:"How many of the robot's runs may be RUNNING at once, fleet-wide; null: no limit."`
	ResourcePools       []string `json:"resource_pools" doc:"Names of the pools every run of the robot needs a slot of."`
	RetryCount          int      `json:"retry_count" doc:"Default retries of a failed run (schedules and execute may override)."`
	RetryBackoffSeconds int      `json:"retry_backoff_seconds" doc:"Default wait before the first retry."`
	RequiredLabels      []string `json:"required_labels" doc:"Labels a worker needs, all of them, to claim the robot's runs (os=windows, sap); [] for any worker."`
}

func robotRead(v *registry.RobotView) RobotRead {
	out := RobotRead{ID: v.Robot.ID, Name: v.Robot.Name, Description: v.Robot.Description, Tags: v.Robot.Tags,
		CreatedAt: v.Robot.CreatedAt, UpdatedAt: v.Robot.UpdatedAt, Versions: make([]RobotVersionRead, 0, len(v.Versions)),
		MaxConcurrentRuns: v.Robot.Settings.MaxConcurrentRuns, ResourcePools: v.Robot.Settings.Pools,
		RetryCount: v.Robot.Settings.RetryCount, RetryBackoffSeconds: v.Robot.Settings.RetryBackoffSeconds}
	if out.ResourcePools == nil {
		out.ResourcePools = []string{}
	}
	out.RequiredLabels = v.Robot.Settings.RequiredLabels
	if out.RequiredLabels == nil {
		out.RequiredLabels = []string{}
	}
	for i := range v.Versions {
		out.Versions = append(out.Versions, versionRead(&v.Versions[i]))
	}
	return out
}

const tagRobots = "Robots"

type robotOutput struct {
	Body RobotRead
}

type versionOutput struct {
	Body RobotVersionRead
}

type robotPath struct {
	RobotID string `path:"robot_id" doc:"Robot id (UUID)."`
}

func (s *Server) registerRobotRoutes() {
	type versionInput struct {
		Version          string            `json:"version" maxLength:"50" doc:"SemVer, e.g. 1.0.0"`
		EntrypointType   string            `json:"entrypoint_type,omitempty" enum:"PYTHON,EXE" default:"PYTHON"`
		EntrypointPath   string            `json:"entrypoint_path,omitempty" maxLength:"1024" default:"main.py"`
		Arguments        []string          `json:"arguments,omitempty"`
		EnvVars          map[string]string `json:"env_vars,omitempty"`
		WorkingDirectory *string           `json:"working_directory,omitempty" maxLength:"1024" nullable:"true"`
		Checksum         *string           `json:"checksum,omitempty" maxLength:"255" nullable:"true" doc:"Ignored: checksums come from uploaded packages."`
		Channel          string            `json:"channel,omitempty" enum:"stable,beta,hotfix" default:"stable"`
		ArtifactType     string            `json:"artifact_type,omitempty" enum:"ZIP,EXE"`
		ArtifactPath     *string           `json:"artifact_path,omitempty" nullable:"true" doc:"Must be null: packages arrive through publish."`
		ArtifactSHA256   *string           `json:"artifact_sha256,omitempty" maxLength:"128" nullable:"true" doc:"Ignored."`
		Changelog        *string           `json:"changelog,omitempty" nullable:"true"`
	}
	type createInput struct {
		Body struct {
			Name           string       `json:"name" minLength:"3" maxLength:"200"`
			Description    *string      `json:"description,omitempty" nullable:"true"`
			Tags           []string     `json:"tags,omitempty"`
			InitialVersion versionInput `json:"initial_version"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "create-robot", Method: http.MethodPost, Path: APIPrefix + "/robots", Tags: []string{tagRobots},
		Summary:     "Register a robot with its initial version",
		Description: "The initial version has no package: it cannot run until a version is published with one.",
		Errors:      []int{http.StatusBadRequest, http.StatusConflict},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *createInput) (*robotOutput, error) {
		iv := in.Body.InitialVersion
		v, err := s.registry.CreateRobot(ctx, principalFrom(ctx), registry.NewRobot{
			Name: in.Body.Name, Description: in.Body.Description, Tags: in.Body.Tags,
			InitialVersion: registry.NewVersion{Version: iv.Version, EntrypointType: iv.EntrypointType, EntrypointPath: iv.EntrypointPath,
				Arguments: iv.Arguments, EnvVars: iv.EnvVars, WorkingDirectory: iv.WorkingDirectory, Channel: iv.Channel,
				ArtifactType: iv.ArtifactType, ArtifactPath: iv.ArtifactPath, Changelog: iv.Changelog},
		})
		if err != nil {
			return nil, err
		}
		return &robotOutput{Body: robotRead(v)}, nil
	})

	type robotListInput struct {
		Skip            int    `query:"skip" minimum:"0" default:"0"`
		Limit           int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
		Q               string `query:"q" maxLength:"200" doc:"Matches name or description (case-insensitive)."`
		Tag             string `query:"tag" maxLength:"100" doc:"Only robots with this tag."`
		IncludeVersions bool   `query:"include_versions" default:"true" doc:"false leaves versions out (smaller answers)."`
	}
	type robotListOutput struct {
		Body struct {
			Items []RobotRead `json:"items"`
			Total int         `json:"total"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "list-robots", Method: http.MethodGet, Path: APIPrefix + "/robots", Tags: []string{tagRobots},
		Summary: "List the robots the caller may read, newest first",
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *robotListInput) (*robotListOutput, error) {
		views, total, err := s.registry.ListRobots(ctx, principalFrom(ctx), registry.ListInput{
			Query: in.Q, Tag: in.Tag, Page: hub.Page{Skip: in.Skip, Limit: in.Limit}, IncludeVersions: in.IncludeVersions,
		})
		if err != nil {
			return nil, err
		}
		out := &robotListOutput{}
		out.Body.Total = total
		out.Body.Items = make([]RobotRead, 0, len(views))
		for i := range views {
			out.Body.Items = append(out.Body.Items, robotRead(&views[i]))
		}
		return out, nil
	})

	register(s, protect(huma.Operation{
		OperationID: "get-robot", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}", Tags: []string{tagRobots},
		Summary: "One robot with its versions", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *robotPath) (*robotOutput, error) {
		v, err := s.registry.GetRobot(ctx, principalFrom(ctx), in.RobotID)
		if err != nil {
			return nil, err
		}
		return &robotOutput{Body: robotRead(v)}, nil
	})

	type patchInput struct {
		RobotID string `path:"robot_id"`
		RawBody []byte
		Body    struct {
			Description         *string  `json:"description,omitempty" nullable:"true"`
			MaxConcurrentRuns   *int     `json:"max_concurrent_runs,omitempty" nullable:"true" minimum:"1" maximum:"1000" doc:"null removes the limit."`
			ResourcePools       []string `json:"resource_pools,omitempty" doc:"The whole list of pool names the robot's runs need ([] for none)."`
			RetryCount          *int     `json:"retry_count,omitempty" minimum:"0" maximum:"10"`
			RetryBackoffSeconds *int     `json:"retry_backoff_seconds,omitempty" minimum:"1" maximum:"3600"`
			RequiredLabels      []string `json:"required_labels,omitempty" doc:"The whole list of labels a worker needs to claim the robot's runs ([] for any worker): each trimmed, a name or key=value of letters, digits and . _ - = : /, at most 64 characters, at most 32 labels."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "update-robot", Method: http.MethodPatch, Path: APIPrefix + "/robots/{robot_id}", Tags: []string{tagRobots},
		Summary:     "Change a robot's description and run settings (only the fields sent)",
		Description: "description null clears it; max_concurrent_runs null removes the limit; resource_pools and required_labels replace their lists.",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *patchInput) (*robotOutput, error) {
		var present map[string]json.RawMessage
		if err := json.Unmarshal(in.RawBody, &present); err != nil {
			return nil, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
		}
		p := principalFrom(ctx)
		var (
			v   *registry.RobotView
			err error
		)
		settings := pools.SettingsInput{MaxConcurrentRuns: in.Body.MaxConcurrentRuns, RetryCount: in.Body.RetryCount,
			RetryBackoffSeconds: in.Body.RetryBackoffSeconds}
		if _, ok := present["max_concurrent_runs"]; ok && in.Body.MaxConcurrentRuns == nil {
			settings.ClearMaxConcurrent = true
		}
		if _, ok := present["resource_pools"]; ok {
			settings.Pools = in.Body.ResourcePools
			if settings.Pools == nil {
				settings.Pools = []string{}
			}
		}
		if raw, ok := present["required_labels"]; ok {
			settings.RequiredLabels = in.Body.RequiredLabels
			if settings.RequiredLabels == nil {
				if string(raw) == "null" {
					return nil, hub.Errorf(hub.EUnprocessable, "required_labels must be a list of labels ([] for any worker).")
				}
				settings.RequiredLabels = []string{}
			}
		}
		if !settings.Empty() {
			if _, err := s.pools.SetRunSettings(ctx, p, in.RobotID, settings); err != nil {
				return nil, err
			}
		}
		if _, ok := present["description"]; ok {
			v, err = s.registry.UpdateDescription(ctx, p, in.RobotID, in.Body.Description)
		} else {
			v, err = s.registry.GetRobot(ctx, p, in.RobotID)
		}
		if err != nil {
			return nil, err
		}
		return &robotOutput{Body: robotRead(v)}, nil
	})

	type tagsInput struct {
		RobotID string `path:"robot_id"`
		Body    struct {
			Tags []string `json:"tags,omitempty" doc:"The robot's whole tag set: trimmed, empty ones dropped, de-duplicated, sorted."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "set-robot-tags", Method: http.MethodPatch, Path: APIPrefix + "/robots/{robot_id}/tags", Tags: []string{tagRobots},
		Summary: "Replace a robot's tags", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *tagsInput) (*robotOutput, error) {
		v, err := s.registry.SetTags(ctx, principalFrom(ctx), in.RobotID, in.Body.Tags)
		if err != nil {
			return nil, err
		}
		return &robotOutput{Body: robotRead(v)}, nil
	})

	type versionsOutput struct {
		Body []RobotVersionRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-robot-versions", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}/versions", Tags: []string{tagRobots},
		Summary: "A robot's versions, newest first", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *robotPath) (*versionsOutput, error) {
		vs, err := s.registry.Versions(ctx, principalFrom(ctx), in.RobotID)
		if err != nil {
			return nil, err
		}
		out := &versionsOutput{Body: make([]RobotVersionRead, 0, len(vs))}
		for i := range vs {
			out.Body = append(out.Body, versionRead(&vs[i]))
		}
		return out, nil
	})

	type activateInput struct {
		RobotID   string `path:"robot_id"`
		VersionID string `path:"version_id"`
	}
	register(s, protect(huma.Operation{
		OperationID: "activate-robot-version", Method: http.MethodPost, Path: APIPrefix + "/robots/{robot_id}/versions/{version_id}/activate",
		Tags: []string{tagRobots}, Summary: "Make a version the active one (rollback when it is older)",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *activateInput) (*versionOutput, error) {
		v, err := s.registry.Activate(ctx, principalFrom(ctx), in.RobotID, in.VersionID)
		if err != nil {
			return nil, err
		}
		return &versionOutput{Body: versionRead(v)}, nil
	})

	s.registerPublish()
	s.registerArtifactDownload()
	s.registerPythonEnvs()
}

// PrepareRead is a request that workers build a version's Python
// environment ahead of its first run.
type PrepareRead struct {
	ID          string    `json:"id" format:"uuid"`
	RobotID     string    `json:"robot_id" format:"uuid"`
	VersionID   string    `json:"version_id" format:"uuid"`
	RequestedBy *string   `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
}

// WorkerEnvRead is what a worker last reported about a version's Python
// environment.
type WorkerEnvRead struct {
	WorkerID      string     `json:"worker_id"`
	Hostname      string     `json:"hostname"`
	Status        string     `json:"status" enum:"READY,FAILED,NOT_NEEDED" doc:"READY: built; NOT_NEEDED: the package has no requirements; FAILED: see error."`
	EnvKey        string     `json:"env_key" doc:"The environment's key (hash of interpreter and requirements); empty when none is needed."`
	PythonVersion *string    `json:"python_version"`
	Error         *string    `json:"error"`
	UpdatedAt     time.Time  `json:"updated_at"`
	LastHeartbeat *time.Time `json:"last_heartbeat" doc:"The worker's last heartbeat; null when it is gone."`
}

// WorkerEnvReads converts workers' reports for the API (and the web UI).
func WorkerEnvReads(envs []hub.WorkerEnv) []WorkerEnvRead {
	out := make([]WorkerEnvRead, 0, len(envs))
	for _, e := range envs {
		out = append(out, WorkerEnvRead{WorkerID: e.WorkerID, Hostname: e.Hostname, Status: e.Status, EnvKey: e.Key,
			PythonVersion: e.PythonVersion, Error: e.Error, UpdatedAt: e.UpdatedAt, LastHeartbeat: e.LastHeartbeat})
	}
	return out
}

func (s *Server) registerPythonEnvs() {
	type versionPath struct {
		RobotID   string `path:"robot_id" doc:"Robot id (UUID)."`
		VersionID string `path:"version_id" doc:"Version id (UUID)."`
	}
	type prepareOutput struct{ Body PrepareRead }
	register(s, protect(huma.Operation{
		OperationID: "prepare-robot-version", Method: http.MethodPost, Path: APIPrefix + "/robots/{robot_id}/versions/{version_id}/prepare",
		Tags: []string{tagRobots}, Summary: "Ask workers to build a version's Python environment ahead of its first run",
		Description:   "Every worker builds the environment (requirements.txt or pyproject.toml dependencies) with its next heartbeat and reports it; see the environments route.",
		DefaultStatus: http.StatusAccepted, Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermRobotPublish)), false, func(ctx context.Context, in *versionPath) (*prepareOutput, error) {
		req, err := s.registry.Prepare(ctx, principalFrom(ctx), in.RobotID, in.VersionID)
		if err != nil {
			return nil, err
		}
		return &prepareOutput{Body: PrepareRead{ID: req.ID, RobotID: req.RobotID, VersionID: req.VersionID, RequestedBy: req.RequestedBy, RequestedAt: req.RequestedAt}}, nil
	})
	type envsOutput struct{ Body []WorkerEnvRead }
	register(s, protect(huma.Operation{
		OperationID: "list-robot-version-environments", Method: http.MethodGet, Path: APIPrefix + "/robots/{robot_id}/versions/{version_id}/environments",
		Tags: []string{tagRobots}, Summary: "Which workers have a version's Python environment ready",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermRobotRead)), false, func(ctx context.Context, in *versionPath) (*envsOutput, error) {
		envs, err := s.registry.Environments(ctx, principalFrom(ctx), in.RobotID, in.VersionID)
		if err != nil {
			return nil, err
		}
		return &envsOutput{Body: WorkerEnvReads(envs)}, nil
	})
}

// publishFieldMax bounds each text field of a publish form.
const publishFieldMax = 1 << 20

func (s *Server) registerPublish() {
	reg := s.api.OpenAPI().Components.Schemas
	str := func(desc string) *huma.Schema { return &huma.Schema{Type: huma.TypeString, Description: desc} }
	form := &huma.Schema{
		Type: huma.TypeObject,
		Properties: map[string]*huma.Schema{
			"version":           str("SemVer, e.g. 1.2.0 (required)."),
			"channel":           {Type: huma.TypeString, Enum: []any{"stable", "beta", "hotfix"}, Description: "Release channel (required)."},
			"changelog":         str("What changed."),
			"artifact":          {Type: huma.TypeString, Format: "binary", Description: "The package: a .zip (with the entry point inside) or a .exe."},
			"entrypoint_path":   str("Path of the entry point inside the ZIP (default: entrypoint_path in the package's robot.yaml, else main.py)."),
			"entrypoint_type":   {Type: huma.TypeString, Enum: []any{"PYTHON", "EXE"}, Description: "Default: entrypoint_type in the package's robot.yaml, else PYTHON; forced to EXE for .exe uploads."},
			"arguments_json":    str(`Base arguments: a JSON array of strings, e.g. ["--mode","full"].`),
			"env_vars_json":     str(`Base environment: a JSON object of strings, e.g. {"REGION":"br"}.`),
			"working_directory": str("Folder inside the ZIP to run in (default: the package root)."),
			"activate":          str("true (default) makes the new version the active one."),
			"commit_sha":        str("Source commit."),
			"branch":            str("Source branch."),
			"build_url":         str("CI build that produced the package."),
		},
		Required: []string{"version", "channel", "artifact"},
	}
	s.handlePlain(&huma.Operation{
		OperationID: "publish-robot-version", Method: http.MethodPost, Path: APIPrefix + "/robots/{robot_id}/versions/publish",
		Tags: []string{tagRobots}, Summary: "Publish a new version with its package (multipart upload)",
		Description: "The file is streamed to the artifact store while its SHA-256 is computed, capped at MAX_ARTIFACT_BYTES, " +
			"validated (ZIP structure, entry point, limits), and only then recorded. A failed or duplicate publish leaves nothing behind.\n\n" +
			"Requires permission `robot.publish` on the robot.",
		Parameters:  []*huma.Param{{Name: "robot_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}}},
		Security:    []map[string][]string{{bearerScheme: {}}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"multipart/form-data": {Schema: form}}},
		Responses: map[string]*huma.Response{
			"201": {Description: "The new version.", Content: map[string]*huma.MediaType{"application/json": {Schema: reg.Schema(reflectTypeOf[RobotVersionRead](), true, "RobotVersionRead")}}},
			"400": {Description: "Invalid field or package (the message names the problem)."},
			"401": {Description: "Not authenticated."}, "403": {Description: "Not allowed."}, "404": {Description: "Robot not found."},
			"413": {Description: "Package over MAX_ARTIFACT_BYTES."}, "422": {Description: "Missing field."},
		},
	}, false, s.requireAuth(string(hub.PermRobotPublish), s.publish))
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, p *hub.Principal) {
	s.publishForm(w, r, p, hub.SourceUser)
}

// publishForm reads a publish form (streaming its artifact into the store)
// and publishes the version for p with the given source.
func (s *Server) publishForm(w http.ResponseWriter, r *http.Request, p *hub.Principal, source string) {
	ctx := r.Context()
	robotID := r.PathValue("robot_id")
	if err := s.registry.AuthorizePublish(ctx, p, robotID); err != nil {
		writeError(w, r, err)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		writeError(w, r, hub.Errorf(hub.EUnprocessable, "Expected a multipart/form-data body with an artifact file."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxArtifactBytes+16*publishFieldMax)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, r, hub.Errorf(hub.EInvalid, "Malformed multipart body."))
		return
	}
	var (
		up       *blob.Upload
		fileName string
		fields   = url.Values{}
	)
	fail := func(err error) {
		if up != nil {
			up.Abort()
		}
		writeError(w, r, err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(bodyError(err, "Malformed multipart body."))
			return
		}
		name := part.FormName()
		if name == "artifact" {
			if up != nil {
				fail(hub.Errorf(hub.EInvalid, "Send exactly one artifact file."))
				return
			}
			if up, err = s.registry.NewUpload(); err != nil {
				fail(err)
				return
			}
			fileName = part.FileName()
			if _, err := io.Copy(up, part); err != nil {
				switch {
				case errors.Is(err, blob.ErrTooLarge):
					fail(s.registry.TooLarge())
				case hub.ErrorKind(err) != hub.EInternal: // the store's own, e.g. a full disk
					fail(err)
				default:
					fail(bodyError(err, "The upload was interrupted."))
				}
				return
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, publishFieldMax+1))
		if err != nil {
			fail(bodyError(err, "Malformed multipart body."))
			return
		}
		if len(b) > publishFieldMax {
			fail(hub.Errorf(hub.ETooLarge, "Form field %q is larger than %d bytes.", name, publishFieldMax))
			return
		}
		if !fields.Has(name) {
			fields.Set(name, string(b))
		}
	}
	if up == nil {
		writeError(w, r, hub.Errorf(hub.EUnprocessable, "artifact is required."))
		return
	}
	if err := refuseNULValues(fields); err != nil {
		fail(err)
		return
	}
	if strings.IndexByte(fileName, 0) >= 0 {
		fail(nulError("artifact file name"))
		return
	}
	in := registry.PublishInput{
		Version: fields.Get("version"), Channel: fields.Get("channel"), Changelog: fields.Get("changelog"),
		EntrypointPath: fields.Get("entrypoint_path"), EntrypointType: fields.Get("entrypoint_type"),
		ArgumentsJSON: fields.Get("arguments_json"), EnvVarsJSON: fields.Get("env_vars_json"),
		WorkingDirectory: fields.Get("working_directory"), CommitSHA: fields.Get("commit_sha"),
		Branch: fields.Get("branch"), BuildURL: fields.Get("build_url"), FileName: fileName, Source: source,
	}
	if a := strings.TrimSpace(fields.Get("activate")); a != "" {
		b, err := registry.ParseBool("activate", a)
		if err != nil {
			fail(err)
			return
		}
		in.Activate = &b
	}
	v, err := s.registry.Publish(ctx, p, robotID, in, up)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, versionRead(v))
}

// bodyError maps a failure to read the request body: over the size cap is
// 413, anything else (client gone, bad framing) 400.
func bodyError(err error, msg string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return hub.Errorf(hub.ETooLarge, "The request body is larger than %d bytes.", mbe.Limit)
	}
	return hub.Errorf(hub.EInvalid, "%s", msg)
}

func (s *Server) registerArtifactDownload() {
	s.handlePlain(&huma.Operation{
		OperationID: "download-robot-version-artifact", Method: http.MethodGet,
		Path: APIPrefix + "/robots/{robot_id}/versions/{version_id}/artifact", Tags: []string{tagRobots},
		Summary:     "Download a version's package",
		Description: "Supports Range requests; the ETag is the package's SHA-256.\n\nRequires permission `robot.publish` on the robot.",
		Parameters: []*huma.Param{
			{Name: "robot_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "version_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
		},
		Security: []map[string][]string{{bearerScheme: {}}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The package.", Content: map[string]*huma.MediaType{"application/octet-stream": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}}},
			"206": {Description: "Part of the package (Range)."},
			"401": {Description: "Not authenticated."}, "403": {Description: "Not allowed."}, "404": {Description: "No such robot, version or package."},
		},
	}, false, s.requireAuth(string(hub.PermRobotPublish), func(w http.ResponseWriter, r *http.Request, p *hub.Principal) {
		a, err := s.registry.OpenArtifact(r.Context(), p, r.PathValue("robot_id"), r.PathValue("version_id"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		defer a.File.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", contentDisposition(a.Name))
		if a.Version.ArtifactSHA256 != nil {
			w.Header().Set("ETag", `"`+*a.Version.ArtifactSHA256+`"`)
		}
		http.ServeContent(w, r, "", a.Modified, a.File)
	}))
}

// contentDisposition builds an attachment header with an ASCII fallback and
// an RFC 5987 UTF-8 name.
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, url.PathEscape(name))
}
