package executor

import (
	"context"
	"io"
	"time"

	"automationhub/internal/hub"
)

// RunState is the worker's only way to the hub: it claims runs, renews
// their leases, stores their logs and outcome, and serves packages and
// artifacts as streams. A hub serves it from its database, bus and
// artifact store (package runstate); a remote agent over HTTPS (package
// agent). Nothing of the storage (files, paths, connections) crosses it.
type RunState interface {
	// NextRun blocks until this worker has claimed a run (now RUNNING and
	// leased to it for c.Lease) or ctx ends (ctx.Err()). A run it returns
	// is this worker's even when ctx ended meanwhile.
	NextRun(ctx context.Context, c Claim) (*hub.Run, error)
	// VersionOnly returns the version a claimed run executes.
	VersionOnly(ctx context.Context, versionID string) (*hub.Version, error)
	// OpenPackage streams the package of version v, which the worker
	// verifies against v.ArtifactSHA256; runID is a run of v this worker
	// holds.
	OpenPackage(ctx context.Context, runID, workerID string, v *hub.Version) (io.ReadCloser, error)
	// RenewLeases extends the leases of the runs the worker holds; the
	// answer says which it still holds and which a user asked to cancel.
	RenewLeases(ctx context.Context, workerID string, runIDs []string, until time.Time) (Leases, error)
	// Cancels delivers the ids of runs a user asked to cancel, best effort
	// (CancelRequested is the fallback), until ctx ends; the channel may
	// close earlier.
	Cancels(ctx context.Context) <-chan string
	SetProcessID(ctx context.Context, runID, workerID string, pid int) error
	CancelRequested(ctx context.Context, runID, workerID string) (bool, error)
	// AppendRunLogs stores log lines idempotently by (run_id, seq) while
	// workerID holds the run, and publishes them to live viewers; held is
	// false once it does not. Errors of a client kind mean the lines cannot
	// be stored for this run: hub.EInvalid for their content,
	// hub.EUnavailable for a full disk (the run ends with the cause instead
	// of retrying until its lease runs out).
	AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error)
	LastLogSeq(ctx context.Context, runID, workerID string) (int64, error)
	// StoreArtifact stores one output file of a run the worker holds under
	// name (a slash-separated path inside the run: "outputs/a.csv"),
	// checking its size and SHA-256 (hex); an error of kind hub.ETooLarge
	// when it is over the hub's limit.
	StoreArtifact(ctx context.Context, runID, workerID, name string, size int64, sha256 string, body io.Reader) (*hub.Artifact, error)
	// DiscardArtifacts frees stored artifacts that will not be recorded.
	DiscardArtifacts(ctx context.Context, runID, workerID string, arts []hub.Artifact)
	// FinishRun records how a run ended, with its last log lines and its
	// artifacts, in one step, and tells viewers; hub.EUnavailable when the
	// disk is full. ok is false when the run was no longer this worker's.
	FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (ok bool, err error)
	// FailRun ends a run the worker holds FAILED before its robot ran, and
	// tells viewers.
	FailRun(ctx context.Context, runID, workerID, errMsg, logMsg string) error
	Heartbeat(ctx context.Context, w hub.Worker) error
	WorkerStopped(ctx context.Context, id string, now time.Time) error
	// PendingPrepares lists the requests, made since `since`, to build a
	// version's Python environment ahead of its runs that workerID has
	// not answered yet (at most limit, oldest first).
	PendingPrepares(ctx context.Context, workerID string, since time.Time, limit int) ([]hub.PrepareRequest, error)
	// EnvironmentReady records what a worker has of a version's Python
	// environment (ready, not needed, or why its build failed); it
	// answers the version's pending prepare request.
	EnvironmentReady(ctx context.Context, e hub.WorkerEnv) error
	// EnvironmentsGone forgets what workerID reported about the
	// environments of keys: its cache removed them.
	EnvironmentsGone(ctx context.Context, workerID string, keys []string) error
}

// Claim is who asks for a run.
type Claim struct {
	WorkerID, Host string
	// Lease is how long the claim lasts without renewal.
	Lease time.Duration
}

// Leases is the answer to a lease renewal.
type Leases struct {
	// Held lists the runs still this worker's.
	Held []string
	// Canceled lists held runs a user asked to cancel.
	Canceled []string
}
