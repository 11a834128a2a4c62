package hub

import "time"

// PrepareRequest asks every worker to build a version's Python environment
// ahead of its first run.
type PrepareRequest struct {
	ID          string
	RobotID     string
	VersionID   string
	RequestedBy *string
	RequestedAt time.Time
}

// States of a version's Python environment on a worker.
const (
	EnvReady     = "READY"
	EnvFailed    = "FAILED"
	EnvNotNeeded = "NOT_NEEDED" // the package has no requirements
)

// WorkerEnv is what a worker last reported about a version's Python
// environment.
type WorkerEnv struct {
	WorkerID  string
	VersionID string
	// Key is the environment's key ("" when none is needed).
	Key    string
	Status string
	// Error is why the build failed (Status EnvFailed).
	Error *string
	// PythonVersion is the interpreter's version ("3.11.7").
	PythonVersion *string
	UpdatedAt     time.Time
	// Hostname and LastHeartbeat describe the worker when listed; zero
	// when the worker row is gone.
	Hostname      string
	LastHeartbeat *time.Time
}
