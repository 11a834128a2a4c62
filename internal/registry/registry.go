// Package registry keeps the robots and their versions: creation, tags,
// publishing of uploaded packages (streamed, hashed, validated, then stored
// atomically), activation and rollback. Every method checks the caller's
// permission on the robot concerned.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/archive"
	"automationhub/internal/audit"
	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is the persistence the registry needs (implemented by sqlstore).
// Methods return ENotFound ("Robot not found." / "Version not found."),
// EConflict for a duplicate robot name and EInvalid for a duplicate version.
type Store interface {
	CreateRobot(ctx context.Context, r *hub.Robot, v *hub.Version, ev *hub.AuditEvent) error
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	ListRobots(ctx context.Context, f hub.RobotFilter) ([]hub.Robot, int, error)
	UpdateRobot(ctx context.Context, id string, desc **string, tags *[]string, now time.Time, ev *hub.AuditEvent) (*hub.Robot, error)
	VersionsOf(ctx context.Context, robotIDs []string) (map[string][]hub.Version, error)
	VersionByID(ctx context.Context, robotID, versionID string) (*hub.Version, error)
	VersionExists(ctx context.Context, robotID, version string) (bool, error)
	PublishVersion(ctx context.Context, v *hub.Version, ev *hub.AuditEvent, place func() error, unplace func()) error
	ActivateVersion(ctx context.Context, robotID, versionID string, ev *hub.AuditEvent) (*hub.Version, error)
	// RequestPrepare records a request that workers build a version's
	// Python environment, with its audit event; hub.ENotFound when the
	// version is not the robot's.
	RequestPrepare(ctx context.Context, req *hub.PrepareRequest, ev *hub.AuditEvent) error
	// VersionEnvironments lists what workers reported about a version's
	// Python environment.
	VersionEnvironments(ctx context.Context, versionID string) ([]hub.WorkerEnv, error)
}

// Blobs is the artifact store (blob.Local).
type Blobs interface {
	Create(limit int64) (*blob.Upload, error)
	Open(key string) (*os.File, error)
	Delete(key string) error
}

// Config tunes the service.
type Config struct {
	MaxArtifactBytes int64
	Limits           archive.Limits
	Clock            hub.Clock
	Logger           *slog.Logger
}

// Service implements the registry.
type Service struct {
	store Store
	blobs Blobs
	cfg   Config
}

// New returns a registry service.
func New(store Store, blobs Blobs, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{store: store, blobs: blobs, cfg: cfg}
}

// RobotView is a robot with its versions, as the API shows it.
type RobotView struct {
	Robot    hub.Robot
	Versions []hub.Version
}

var (
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$`)
)

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

// parseRobotID validates a robot id from a path.
func parseRobotID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	return u.String(), nil
}

// robotFor loads a robot and checks perm on it.
func (s *Service) robotFor(ctx context.Context, p *hub.Principal, id string, perm hub.Permission) (*hub.Robot, error) {
	id, err := parseRobotID(id)
	if err != nil {
		return nil, err
	}
	return rbac.LoadRobot(ctx, p, id, perm, s.store.RobotByID, forbidden())
}

// normTags trims, drops empty, de-duplicates and sorts; each tag ≤ 100 chars.
func normTags(in []string) ([]string, error) {
	out := []string{}
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if len([]rune(t)) > 100 {
			return nil, hub.Errorf(hub.EUnprocessable, "Tag %q is longer than 100 characters.", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// masked hides version env values from callers who cannot publish the robot:
// they are often secrets.
func masked(p *hub.Principal, r *hub.Robot, vs []hub.Version) []hub.Version {
	if rbac.Allowed(p, hub.PermRobotPublish, r.Ref()) {
		return vs
	}
	out := make([]hub.Version, len(vs))
	for i, v := range vs {
		env := make(map[string]string, len(v.EnvVars))
		for k := range v.EnvVars {
			env[k] = "********"
		}
		v.EnvVars = env
		out[i] = v
	}
	return out
}

// validateEntrypoint checks the entry point and working directory are
// relative paths inside the package; an empty entry point stays empty.
func validateEntrypoint(entry string, wd *string) (string, *string, error) {
	e := ""
	if entry != "" {
		var err error
		if e, err = archive.CleanRelPath(entry); err != nil {
			return "", nil, hub.Errorf(hub.EInvalid, "entrypoint_path must be a relative path inside the package: %v", hub.ErrorMessage(err))
		}
	}
	if wd == nil || strings.TrimSpace(*wd) == "" {
		return e, nil, nil
	}
	w, err := archive.CleanRelPath(*wd)
	if err != nil {
		return "", nil, hub.Errorf(hub.EInvalid, "working_directory must be a relative path inside the package: %v", hub.ErrorMessage(err))
	}
	return e, &w, nil
}

func validateArgsEnv(args []string, env map[string]string) error {
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return hub.Errorf(hub.EInvalid, "arguments must not contain NUL characters.")
		}
	}
	for k, v := range env {
		if !hub.ValidEnvName(k) {
			return hub.Errorf(hub.EInvalid, "env_vars key %q is not a valid variable name.", k)
		}
		if strings.ContainsRune(v, 0) {
			return hub.Errorf(hub.EInvalid, "env_vars value of %q must not contain NUL characters.", k)
		}
	}
	return nil
}

// NewVersion describes the initial version given with a new robot.
type NewVersion struct {
	Version          string
	EntrypointType   string
	EntrypointPath   string
	Arguments        []string
	EnvVars          map[string]string
	WorkingDirectory *string
	Channel          string
	ArtifactType     string
	ArtifactPath     *string
	Changelog        *string
}

// NewRobot is the input of CreateRobot.
type NewRobot struct {
	Name           string
	Description    *string
	Tags           []string
	InitialVersion NewVersion
}

// CreateRobot registers a robot with an initial version that has no package
// yet (it cannot run until a version with an artifact is published). Needs
// robot.publish on every robot. A duplicate name is EConflict.
func (s *Service) CreateRobot(ctx context.Context, p *hub.Principal, in NewRobot) (*RobotView, error) {
	if !rbac.Allowed(p, hub.PermRobotPublish, nil) {
		return nil, forbidden()
	}
	name := strings.TrimSpace(in.Name)
	if n := len([]rune(name)); n < 3 || n > 200 {
		return nil, hub.Errorf(hub.EUnprocessable, "name must be 3 to 200 characters.")
	}
	tags, err := normTags(in.Tags)
	if err != nil {
		return nil, err
	}
	iv := in.InitialVersion
	if len(iv.Version) > 50 || !semverRE.MatchString(iv.Version) {
		return nil, hub.Errorf(hub.EInvalid, "Invalid semver version.")
	}
	if iv.Channel == "" {
		iv.Channel = "stable"
	}
	if !slices.Contains(hub.Channels, iv.Channel) {
		return nil, hub.Errorf(hub.EInvalid, "Invalid release channel.")
	}
	if iv.EntrypointType == "" {
		iv.EntrypointType = hub.EntrypointPython
	}
	if iv.EntrypointType != hub.EntrypointPython && iv.EntrypointType != hub.EntrypointExe {
		return nil, hub.Errorf(hub.EInvalid, "entrypoint_type must be PYTHON or EXE.")
	}
	if iv.ArtifactType == "" {
		iv.ArtifactType = hub.ArtifactZip
		if iv.EntrypointType == hub.EntrypointExe {
			iv.ArtifactType = hub.ArtifactExe
		}
	}
	if iv.ArtifactType != hub.ArtifactZip && iv.ArtifactType != hub.ArtifactExe {
		return nil, hub.Errorf(hub.EInvalid, "artifact_type must be ZIP or EXE.")
	}
	if iv.ArtifactPath != nil && strings.TrimSpace(*iv.ArtifactPath) != "" {
		return nil, hub.Errorf(hub.EInvalid, "artifact_path cannot be set when creating a robot; publish a version with its package instead.")
	}
	if iv.EntrypointPath == "" {
		iv.EntrypointPath = "main.py"
	}
	entry, wd, err := validateEntrypoint(iv.EntrypointPath, iv.WorkingDirectory)
	if err != nil {
		return nil, err
	}
	if iv.Arguments == nil {
		iv.Arguments = []string{}
	}
	if iv.EnvVars == nil {
		iv.EnvVars = map[string]string{}
	}
	if err := validateArgsEnv(iv.Arguments, iv.EnvVars); err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	r := &hub.Robot{ID: uuid.NewString(), Name: name, Description: in.Description, Tags: tags, CreatedBy: p.UserID(), CreatedAt: now, UpdatedAt: now}
	v := &hub.Version{
		ID: uuid.NewString(), RobotID: r.ID, Version: iv.Version, Channel: iv.Channel, EntrypointType: iv.EntrypointType,
		EntrypointPath: entry, Arguments: iv.Arguments, EnvVars: iv.EnvVars, WorkingDirectory: wd, ArtifactType: iv.ArtifactType,
		Changelog: iv.Changelog, CreatedSource: hub.SourceUser, RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedBy: p.UserID(),
		CreatedAt: now, IsActive: true,
	}
	ev := audit.Event(p, "robot.created", "robot", r.ID, map[string]any{"robot_id": r.ID, "name": r.Name, "tags": tags}, now)
	if err := s.store.CreateRobot(ctx, r, v, ev); err != nil {
		return nil, err
	}
	return &RobotView{Robot: *r, Versions: []hub.Version{*v}}, nil
}

// ListInput is the input of ListRobots.
type ListInput struct {
	Query, Tag      string
	Page            hub.Page
	IncludeVersions bool
}

// ListRobots lists the robots the caller may read, newest first.
func (s *Service) ListRobots(ctx context.Context, p *hub.Principal, in ListInput) ([]RobotView, int, error) {
	scope := rbac.Scope(p, hub.PermRobotRead)
	robots, total, err := s.store.ListRobots(ctx, hub.RobotFilter{Query: strings.TrimSpace(in.Query), Tag: strings.TrimSpace(in.Tag), Scope: scope, Page: in.Page})
	if err != nil {
		return nil, 0, err
	}
	views := make([]RobotView, len(robots))
	ids := make([]string, len(robots))
	for i, r := range robots {
		views[i] = RobotView{Robot: r, Versions: []hub.Version{}}
		ids[i] = r.ID
	}
	if in.IncludeVersions && len(ids) > 0 {
		versions, err := s.store.VersionsOf(ctx, ids)
		if err != nil {
			return nil, 0, err
		}
		for i := range views {
			if vs := versions[views[i].Robot.ID]; vs != nil {
				views[i].Versions = masked(p, &views[i].Robot, vs)
			}
		}
	}
	return views, total, nil
}

func (s *Service) view(ctx context.Context, p *hub.Principal, r *hub.Robot) (*RobotView, error) {
	versions, err := s.store.VersionsOf(ctx, []string{r.ID})
	if err != nil {
		return nil, err
	}
	vs := versions[r.ID]
	if vs == nil {
		vs = []hub.Version{}
	}
	return &RobotView{Robot: *r, Versions: masked(p, r, vs)}, nil
}

// GetRobot returns one robot with its versions (robot.read on it).
func (s *Service) GetRobot(ctx context.Context, p *hub.Principal, id string) (*RobotView, error) {
	r, err := s.robotFor(ctx, p, id, hub.PermRobotRead)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p, r)
}

// UpdateDescription sets or clears a robot's description (robot.publish on it).
func (s *Service) UpdateDescription(ctx context.Context, p *hub.Principal, id string, desc *string) (*RobotView, error) {
	r, err := s.robotFor(ctx, p, id, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	ev := audit.Event(p, "robot.updated", "robot", r.ID, map[string]any{"robot_id": r.ID, "changed": []string{"description"}}, now)
	r, err = s.store.UpdateRobot(ctx, r.ID, &desc, nil, now, ev)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p, r)
}

// SetTags replaces a robot's tags (robot.publish on it).
func (s *Service) SetTags(ctx context.Context, p *hub.Principal, id string, tags []string) (*RobotView, error) {
	r, err := s.robotFor(ctx, p, id, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	norm, err := normTags(tags)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	ev := audit.Event(p, "robot_updated", "robot", r.ID, map[string]any{"robot_id": r.ID, "tags": norm}, now)
	r, err = s.store.UpdateRobot(ctx, r.ID, nil, &norm, now, ev)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p, r)
}

// Versions lists a robot's versions, newest first (robot.read on it).
func (s *Service) Versions(ctx context.Context, p *hub.Principal, id string) ([]hub.Version, error) {
	v, err := s.GetRobot(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return v.Versions, nil
}

// Activate makes a version the active one — a rollback when it is older
// (robot.publish on the robot).
func (s *Service) Activate(ctx context.Context, p *hub.Principal, robotID, versionID string) (*hub.Version, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	vid, err := uuid.Parse(versionID)
	if err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Version not found.")
	}
	ev := audit.Event(p, "robot_version_activated", "robot_version", vid.String(),
		map[string]any{"robot_id": r.ID, "version_id": vid.String()}, s.cfg.Clock.Now())
	return s.store.ActivateVersion(ctx, r.ID, vid.String(), ev)
}

// Artifact is an opened version package.
type Artifact struct {
	File     *os.File
	Name     string // suggested download file name
	Version  *hub.Version
	Robot    *hub.Robot
	Size     int64
	Modified time.Time
}

// OpenArtifact opens a version's stored package for download (robot.publish
// on the robot). ENotFound when the version has no package.
func (s *Service) OpenArtifact(ctx context.Context, p *hub.Principal, robotID, versionID string) (*Artifact, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	vid, err := uuid.Parse(versionID)
	if err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Version not found.")
	}
	v, err := s.store.VersionByID(ctx, r.ID, vid.String())
	if err != nil {
		return nil, err
	}
	if v.ArtifactPath == nil {
		return nil, hub.Errorf(hub.ENotFound, "This version has no artifact.")
	}
	f, err := s.blobs.Open(*v.ArtifactPath)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, hub.Errorf(hub.ENotFound, "Artifact file not found on disk.")
	}
	if err != nil {
		return nil, fmt.Errorf("registry.OpenArtifact: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("registry.OpenArtifact: %w", err)
	}
	ext := path.Ext(*v.ArtifactPath)
	return &Artifact{File: f, Name: r.Name + "-" + v.Version + ext, Version: v, Robot: r, Size: st.Size(), Modified: st.ModTime()}, nil
}

// decodeJSONField decodes arguments_json / env_vars_json with the previous
// backend's messages.
func decodeJSONField(raw string, dst any, typeMsg string) error {
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	var probe any
	if err := json.Unmarshal([]byte(raw), &probe); err != nil {
		return hub.Errorf(hub.EInvalid, "Invalid arguments_json/env_vars_json payload.")
	}
	if err := json.Unmarshal([]byte(raw), dst); err != nil {
		return hub.Errorf(hub.EInvalid, "%s", typeMsg)
	}
	return nil
}

// Prepare asks every worker to build a version's Python environment ahead
// of its first run (robot.publish on the robot); workers take the request
// up with their next heartbeat. ENotFound for an unknown version, EConflict
// for a version without a ZIP package.
func (s *Service) Prepare(ctx context.Context, p *hub.Principal, robotID, versionID string) (*hub.PrepareRequest, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	vid, err := uuid.Parse(versionID)
	if err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Version not found.")
	}
	v, err := s.store.VersionByID(ctx, r.ID, vid.String())
	if err != nil {
		return nil, err
	}
	if v.ArtifactPath == nil || v.ArtifactType != hub.ArtifactZip || v.EntrypointType != hub.EntrypointPython {
		return nil, hub.Errorf(hub.EConflict, "Version %s is not a Python package; it has no Python environment to prepare.", v.Version)
	}
	now := s.cfg.Clock.Now()
	req := &hub.PrepareRequest{ID: uuid.NewString(), RobotID: r.ID, VersionID: v.ID, RequestedBy: p.UserID(), RequestedAt: now}
	ev := audit.Event(p, "robot_version_prepare_requested", "robot_version", v.ID,
		map[string]any{"robot_id": r.ID, "version_id": v.ID, "version": v.Version}, now)
	if err := s.store.RequestPrepare(ctx, req, ev); err != nil {
		return nil, err
	}
	return req, nil
}

// Environments lists what workers reported about a version's Python
// environment (robot.read on the robot).
func (s *Service) Environments(ctx context.Context, p *hub.Principal, robotID, versionID string) ([]hub.WorkerEnv, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotRead)
	if err != nil {
		return nil, err
	}
	vid, err := uuid.Parse(versionID)
	if err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Version not found.")
	}
	if _, err := s.store.VersionByID(ctx, r.ID, vid.String()); err != nil {
		return nil, err
	}
	return s.store.VersionEnvironments(ctx, vid.String())
}
