package registry

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/google/uuid"

	"automationhub/internal/archive"
	"automationhub/internal/audit"
	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/pyenv"
)

// PublishInput holds the text fields of a publish request, as sent.
// Empty strings count as absent.
type PublishInput struct {
	Version          string
	Channel          string // required for users; "" means stable for CI sources
	Changelog        string
	EntrypointPath   string
	EntrypointType   string
	ArgumentsJSON    string
	EnvVarsJSON      string
	WorkingDirectory string
	Activate         *bool // default true
	CommitSHA        string
	Branch           string
	BuildURL         string
	// FileName is the uploaded file's name; its extension selects ZIP or EXE.
	FileName string
	// Source is hub.SourceUser (default) or hub.SourceGitHubActions.
	Source string
}

// AuthorizePublish checks, before any upload is read, that the caller may
// publish versions of the robot.
func (s *Service) AuthorizePublish(ctx context.Context, p *hub.Principal, robotID string) error {
	_, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	return err
}

// NewUpload starts streaming a package into the artifact store's temporary
// area, capped at MAX_ARTIFACT_BYTES (writes beyond fail with blob.ErrTooLarge).
func (s *Service) NewUpload() (*blob.Upload, error) {
	return s.blobs.Create(s.cfg.MaxArtifactBytes)
}

// TooLarge is the error for an upload over the size cap.
func (s *Service) TooLarge() error {
	return hub.Errorf(hub.ETooLarge, "The artifact is larger than the limit of %d bytes (MAX_ARTIFACT_BYTES).", s.cfg.MaxArtifactBytes)
}

func optionalText(s string) *string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return &s
}

// Publish validates the fields and the uploaded package and records the new
// version. The upload is always consumed: moved into the store when the
// version is recorded, removed otherwise. Nothing is left behind on any
// error, and an existing version's file is never touched.
func (s *Service) Publish(ctx context.Context, p *hub.Principal, robotID string, in PublishInput, up *blob.Upload) (*hub.Version, error) {
	defer up.Abort() // no-op after a successful commit
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	v, err := s.versionFromInput(r, in)
	if err != nil {
		return nil, err
	}
	// The publisher's user, also for CI: a service account's token names
	// its account; the shared deploy token names none.
	v.CreatedBy = p.UserID()
	if exists, err := s.store.VersionExists(ctx, r.ID, v.Version); err != nil {
		return nil, err
	} else if exists {
		return nil, hub.Errorf(hub.EInvalid, "Version already exists for this robot.")
	}
	if up.Size() == 0 {
		return nil, hub.Errorf(hub.EInvalid, "The artifact file is empty.")
	}
	switch v.ArtifactType {
	case hub.ArtifactZip:
		m, err := archive.Inspect(up, up.Size(), s.cfg.Limits)
		if err != nil {
			return nil, err
		}
		ep, err := PackageEntrypoint(m, Entrypoint{Path: v.EntrypointPath, Type: v.EntrypointType, WorkingDirectory: v.WorkingDirectory})
		if err != nil {
			return nil, err
		}
		v.EntrypointPath, v.EntrypointType, v.WorkingDirectory = ep.Path, ep.Type, ep.WorkingDirectory
		v.RequiredEnvKeys = m.Robot.RequiredEnv
		if len(m.Robot.RuntimeEnvProblems) > 0 {
			return nil, hub.Errorf(hub.EInvalid, "%s: %s", m.Robot.Name, strings.Join(m.Robot.RuntimeEnvProblems, " "))
		}
		v.RuntimeEnvKeys = m.Robot.RuntimeEnv
		if err := pyenv.CheckPackage(m); err != nil {
			return nil, err
		}
	case hub.ArtifactExe:
		if !archive.IsWindowsExecutable(up) {
			return nil, hub.Errorf(hub.EInvalid, "The .exe artifact is not a Windows executable.")
		}
	}
	sum, size := up.SHA256(), up.Size()
	key := path.Join("robots", r.ID, v.Version, "artifact."+strings.ToLower(v.ArtifactType))
	v.ArtifactPath, v.ArtifactSHA256, v.Checksum, v.ArtifactSize = &key, &sum, &sum, &size

	activate := v.IsActive
	ev := audit.Event(p, "robot_version_published", "robot_version", v.ID, map[string]any{
		"robot_id": r.ID, "version": v.Version, "channel": v.Channel, "artifact_type": v.ArtifactType,
		"artifact_path": key, "artifact_sha256": sum, "artifact_size_bytes": size, "activate": activate,
		"commit_sha": v.CommitSHA, "branch": v.Branch, "build_url": v.BuildURL,
		"required_env_keys_json": v.RequiredEnvKeys, "source": v.CreatedSource,
	}, v.CreatedAt)
	// The row is inserted first (a duplicate fails there, before any file
	// moves); only a version that owns its number reaches place, so
	// replacing a file at the key can only replace a crashed attempt's orphan.
	place := func() error { return up.Commit(key, true) }
	unplace := func() {
		if err := s.blobs.Delete(key); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "remove artifact of a failed publish", "key", key, "error", err.Error())
		}
	}
	if err := s.store.PublishVersion(ctx, v, ev, place, unplace); err != nil {
		return nil, err
	}
	return v, nil
}

// versionFromInput validates the text fields in the previous backend's order:
// semver, channel, JSON payloads, their types; then our own checks.
func (s *Service) versionFromInput(r *hub.Robot, in PublishInput) (*hub.Version, error) {
	version := strings.TrimSpace(in.Version)
	if version == "" {
		return nil, hub.Errorf(hub.EUnprocessable, "version is required.")
	}
	if len(version) > 50 || !semverRE.MatchString(version) {
		return nil, hub.Errorf(hub.EInvalid, "Invalid semver version.")
	}
	if in.Source == "" {
		in.Source = hub.SourceUser
	}
	channel := strings.TrimSpace(in.Channel)
	if channel == "" {
		if in.Source == hub.SourceUser {
			return nil, hub.Errorf(hub.EUnprocessable, "channel is required.")
		}
		channel = "stable"
	}
	if !slices.Contains(hub.Channels, channel) {
		return nil, hub.Errorf(hub.EInvalid, "Invalid release channel.")
	}
	args := []string{}
	if err := decodeJSONField(in.ArgumentsJSON, &args, "arguments_json must be a JSON array of strings."); err != nil {
		return nil, err
	}
	env := map[string]string{}
	if err := decodeJSONField(in.EnvVarsJSON, &env, "env_vars_json must be a JSON object of string pairs."); err != nil {
		return nil, err
	}
	if args == nil || env == nil {
		return nil, hub.Errorf(hub.EInvalid, "arguments_json and env_vars_json must not be null.")
	}
	if err := validateArgsEnv(args, env); err != nil {
		return nil, err
	}
	name := strings.ToLower(strings.TrimSpace(in.FileName))
	var artifactType string
	switch {
	case strings.HasSuffix(name, ".zip"):
		artifactType = hub.ArtifactZip
	case strings.HasSuffix(name, ".exe"):
		artifactType = hub.ArtifactExe
	default:
		return nil, hub.Errorf(hub.EInvalid, "Only .zip and .exe artifacts are supported.")
	}
	// An empty entry point or type of a ZIP is completed from the package
	// (PackageEntrypoint); values given are checked here, before the upload.
	entryType := strings.ToUpper(strings.TrimSpace(in.EntrypointType))
	if entryType != "" && entryType != hub.EntrypointPython && entryType != hub.EntrypointExe {
		return nil, hub.Errorf(hub.EInvalid, "entrypoint_type must be PYTHON or EXE.")
	}
	entryPath := strings.TrimSpace(in.EntrypointPath)
	var wd *string
	if artifactType == hub.ArtifactExe {
		// A bare executable is its own entry point.
		entryType, entryPath = hub.EntrypointExe, "artifact.exe"
	} else {
		e, w, err := validateEntrypoint(entryPath, optionalText(in.WorkingDirectory))
		if err != nil {
			return nil, err
		}
		entryPath, wd = e, w
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"commit_sha", in.CommitSHA, 80}, {"branch", in.Branch, 255}, {"build_url", in.BuildURL, 2048}, {"changelog", in.Changelog, 100_000}} {
		if len(f.v) > f.max {
			return nil, hub.Errorf(hub.EUnprocessable, "%s must be at most %d characters.", f.name, f.max)
		}
	}
	if in.Source == hub.SourceGitHubActions && (optionalText(in.CommitSHA) == nil || optionalText(in.Branch) == nil || optionalText(in.BuildURL) == nil) {
		return nil, hub.Errorf(hub.EUnprocessable, "commit_sha, branch and build_url are required.")
	}
	activate := true
	if in.Activate != nil {
		activate = *in.Activate
	}
	return &hub.Version{
		ID: uuid.NewString(), RobotID: r.ID, Version: version, Channel: channel, EntrypointType: entryType,
		EntrypointPath: entryPath, Arguments: args, EnvVars: env, WorkingDirectory: wd, ArtifactType: artifactType,
		Changelog: optionalText(in.Changelog), CommitSHA: optionalText(in.CommitSHA), Branch: optionalText(in.Branch),
		BuildURL: optionalText(in.BuildURL), CreatedSource: in.Source, RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{},
		CreatedAt: s.cfg.Clock.Now(), IsActive: activate,
	}, nil
}

// ParseBool reads the publish form's boolean text as the previous backend did
// (true/false/1/0/yes/no/on/off/t/f/y/n, any case).
func ParseBool(field, s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on", "t", "y":
		return true, nil
	case "false", "0", "no", "off", "f", "n":
		return false, nil
	}
	return false, hub.Errorf(hub.EUnprocessable, "%s must be a boolean.", field)
}

// Entrypoint is how a version's process starts inside its package.
type Entrypoint struct {
	// Path is the entry point's path inside the package ("src/main.py").
	Path string
	// Type is hub.EntrypointPython or hub.EntrypointExe.
	Type string
	// WorkingDirectory is the folder inside the package to run in; nil for
	// the package root.
	WorkingDirectory *string
}

// PackageEntrypoint completes and checks the entry point of a ZIP package the
// way Publish does. Values given (the publish form's) win; an empty Path or
// Type comes from the package's robot.yaml (entrypoint_path,
// entrypoint_type), else main.py and PYTHON. The entry point must be a file of
// the package and the working directory one of its folders. Errors are
// hub.EInvalid and name the field and the file a value came from.
func PackageEntrypoint(m *archive.Manifest, given Entrypoint) (Entrypoint, error) {
	ep := given
	pathField, typeField := "entrypoint_path", "entrypoint_type"
	if ep.Path == "" && m.Robot.EntrypointPath != "" {
		ep.Path, pathField = m.Robot.EntrypointPath, "entrypoint_path in "+m.Robot.Name
	}
	if ep.Path == "" {
		ep.Path, pathField = "main.py", "the default of entrypoint_path"
	}
	if ep.Type == "" && m.Robot.EntrypointType != "" {
		ep.Type, typeField = strings.ToUpper(m.Robot.EntrypointType), "entrypoint_type in "+m.Robot.Name
	}
	if ep.Type == "" {
		ep.Type = hub.EntrypointPython
	}
	if ep.Type != hub.EntrypointPython && ep.Type != hub.EntrypointExe {
		return Entrypoint{}, hub.Errorf(hub.EInvalid, "%s must be PYTHON or EXE.", typeField)
	}
	p, err := archive.CleanRelPath(ep.Path)
	if err != nil {
		return Entrypoint{}, hub.Errorf(hub.EInvalid, "%s must be a relative path inside the package: %v", pathField, hub.ErrorMessage(err))
	}
	ep.Path = p
	if !m.Names[ep.Path] {
		return Entrypoint{}, hub.Errorf(hub.EInvalid, "The package has no entry point %q (%s).", ep.Path, pathField)
	}
	if ep.WorkingDirectory != nil && !m.Dirs[*ep.WorkingDirectory] {
		return Entrypoint{}, hub.Errorf(hub.EInvalid, "The package has no folder %q (working_directory).", *ep.WorkingDirectory)
	}
	return ep, nil
}
