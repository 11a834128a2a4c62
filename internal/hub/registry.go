package hub

import "time"

// Robot is an automation the hub can run.
type Robot struct {
	ID          string
	Name        string
	Description *string
	Tags        []string
	CreatedBy   *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Settings are the robot's defaults for its runs: limits, pools, retries.
	Settings RunSettings
}

// Ref returns what scoped permission checks need to know about the robot.
func (r *Robot) Ref() *RobotRef { return &RobotRef{ID: r.ID, Tags: r.Tags} }

// Version sources.
const (
	SourceUser          = "user"
	SourceGitHubActions = "github_actions"
)

// Entry point and artifact types, and release channels.
const (
	EntrypointPython = "PYTHON"
	EntrypointExe    = "EXE"
	ArtifactZip      = "ZIP"
	ArtifactExe      = "EXE"
)

// Channels are the release channels a version may be published on.
var Channels = []string{"stable", "beta", "hotfix"}

// Version is one immutable release of a robot.
type Version struct {
	ID               string
	RobotID          string
	Version          string
	Channel          string
	EntrypointType   string
	EntrypointPath   string
	Arguments        []string
	EnvVars          map[string]string
	WorkingDirectory *string
	ArtifactType     string
	// ArtifactPath is the artifact store key; nil for a version registered
	// without a package (it cannot run).
	ArtifactPath    *string
	ArtifactSHA256  *string
	ArtifactSize    *int64
	Checksum        *string
	Changelog       *string
	CommitSHA       *string
	Branch          *string
	BuildURL        *string
	CreatedSource   string
	RequiredEnvKeys []string
	// RuntimeEnvKeys are the variables a run may set when it starts, as the
	// package's robot.yaml declares them (runtime_env).
	RuntimeEnvKeys []string
	CreatedBy      *string
	CreatedAt      time.Time
	IsActive       bool
}

// RobotFilter narrows robot lists.
type RobotFilter struct {
	// Query matches name or description, case-insensitively.
	Query string
	Tag   string
	// Scope limits the list to the robots a caller may see.
	Scope RobotScope
	Page
}
