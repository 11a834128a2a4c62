package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
)

// claimWait is how long one long poll asks the hub to wait.
const claimWait = 30 * time.Second

// SetRegistration sets what heartbeats say of the agent.
func (c *Client) SetRegistration(reg Registration) {
	c.mu.Lock()
	c.reg = reg
	c.mu.Unlock()
}

func (c *Client) registration() Registration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reg
}

// NextRun long-polls the hub until it hands this agent a run.
func (c *Client) NextRun(ctx context.Context, _ executor.Claim) (*hub.Run, error) {
	for {
		if err := c.Revoked(); err != nil {
			return nil, err
		}
		var out struct {
			Run     *hub.Run     `json:"run"`
			Version *hub.Version `json:"version"`
		}
		body := map[string]any{"version": c.version, "wait_seconds": int(claimWait / time.Second)}
		cctx, cancel := context.WithTimeout(ctx, claimWait+15*time.Second)
		err := c.call(cctx, http.MethodPost, "/agent/claim", body, &out)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("claim: %w", err)
		}
		if out.Run != nil {
			if out.Version != nil {
				c.mu.Lock()
				c.versions[out.Version.ID] = out.Version
				c.mu.Unlock()
			}
			return out.Run, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// VersionOnly returns the version handed with a claimed run.
func (c *Client) VersionOnly(_ context.Context, versionID string) (*hub.Version, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.versions[versionID]
	if !ok {
		return nil, hub.Errorf(hub.ENotFound, "Robot version not found.")
	}
	return v, nil
}

// OpenPackage downloads the package of v by its SHA-256 (the executor
// checks the SHA-256 and caches it).
func (c *Client) OpenPackage(ctx context.Context, runID, _ string, v *hub.Version) (io.ReadCloser, error) {
	if v.ArtifactSHA256 == nil {
		return nil, hub.Errorf(hub.ENotFound, "The version has no package checksum.")
	}
	var resp *http.Response
	err := retry(ctx, c.leaseDuration(), func(cctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/agent/runs/"+url.PathEscape(runID)+"/package/"+url.PathEscape(*v.ArtifactSHA256), nil)
		if err != nil {
			return err
		}
		resp, err = c.do(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RenewLeases renews the leases of held runs (one attempt: the worker
// renews three times a lease).
func (c *Client) RenewLeases(ctx context.Context, _ string, runIDs []string, _ time.Time) (executor.Leases, error) {
	var out struct {
		Held     []string `json:"held"`
		Canceled []string `json:"canceled"`
	}
	cctx, cancel := context.WithTimeout(ctx, max(c.leaseDuration()/3, 5*time.Second))
	defer cancel()
	if err := c.call(cctx, http.MethodPost, "/agent/leases", map[string]any{"run_ids": runIDs}, &out); err != nil {
		return executor.Leases{}, err
	}
	return executor.Leases{Held: out.Held, Canceled: out.Canceled}, nil
}

// Cancels is fed by nothing: cancels come with lease renewals and the
// per-run poll. The channel closes when ctx ends.
func (c *Client) Cancels(ctx context.Context) <-chan string {
	ch := make(chan string)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func runPath(runID, rest string) string { return "/agent/runs/" + url.PathEscape(runID) + rest }

// SetProcessID records the robot's process id.
func (c *Client) SetProcessID(ctx context.Context, runID, _ string, pid int) error {
	return retry(ctx, c.leaseDuration()/2, func(ctx context.Context) error {
		return c.call(ctx, http.MethodPut, runPath(runID, "/pid"), map[string]any{"pid": pid}, nil)
	})
}

// CancelRequested asks whether a user cancelled the run (one attempt).
func (c *Client) CancelRequested(ctx context.Context, runID, _ string) (bool, error) {
	var out struct {
		Requested bool `json:"requested"`
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.call(cctx, http.MethodGet, runPath(runID, "/cancel"), nil, &out)
	return out.Requested, err
}

// LastLogSeq returns the last stored seq of the run's log.
func (c *Client) LastLogSeq(ctx context.Context, runID, _ string) (int64, error) {
	var out struct {
		Seq int64 `json:"seq"`
	}
	err := retry(ctx, c.leaseDuration(), func(ctx context.Context) error {
		return c.call(ctx, http.MethodGet, runPath(runID, "/logs/last-seq"), nil, &out)
	})
	return out.Seq, err
}

// RunConfig fetches the configuration of a held run.
func (c *Client) RunConfig(ctx context.Context, runID, _ string) (*hub.RunConfig, error) {
	var out struct {
		Env     map[string]string `json:"env"`
		Secrets []string          `json:"secrets"`
	}
	err := retry(ctx, c.leaseDuration(), func(ctx context.Context) error {
		return c.call(ctx, http.MethodGet, runPath(runID, "/config"), nil, &out)
	})
	if err != nil {
		return nil, err
	}
	cfg := &hub.RunConfig{Env: out.Env, Secrets: map[string]bool{}}
	if cfg.Env == nil {
		cfg.Env = map[string]string{}
	}
	for _, k := range out.Secrets {
		cfg.Secrets[k] = true
	}
	return cfg, nil
}

// wireArtifact is an artifact on the wire.
type wireArtifact struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	ContentType *string   `json:"content_type"`
	SHA256      *string   `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

func toWire(arts []hub.Artifact) []wireArtifact {
	out := make([]wireArtifact, len(arts))
	for i, a := range arts {
		out[i] = wireArtifact{ID: a.ID, Name: a.Name, Path: a.Path, Size: a.Size, ContentType: a.ContentType, SHA256: a.SHA256, CreatedAt: a.CreatedAt}
	}
	return out
}

// StoreArtifact uploads one file as a stream; body is sent again after a
// network failure when it can seek.
func (c *Client) StoreArtifact(ctx context.Context, runID, _, name string, size int64, sum string, body io.Reader) (*hub.Artifact, error) {
	var out wireArtifact
	q := url.Values{"name": {name}, "sha256": {sum}}
	seeker, canSeek := body.(io.Seeker)
	first := true
	err := retry(ctx, c.leaseDuration(), func(cctx context.Context) error {
		if !first {
			if !canSeek {
				return hub.Errorf(hub.EUnavailable, "the upload was cut and cannot be sent again")
			}
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		first = false
		req, err := http.NewRequestWithContext(cctx, http.MethodPut, c.base+runPath(runID, "/artifacts")+"?"+q.Encode(), io.NopCloser(body))
		if err != nil {
			return err
		}
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return jsonDecode(resp.Body, &out)
	})
	if err != nil {
		return nil, err
	}
	return &hub.Artifact{ID: out.ID, RunID: runID, Name: out.Name, Path: out.Path, Size: out.Size, ContentType: out.ContentType, SHA256: out.SHA256, CreatedAt: out.CreatedAt}, nil
}

// DiscardArtifacts asks the hub to free artifacts that will not be recorded.
func (c *Client) DiscardArtifacts(ctx context.Context, runID, _ string, arts []hub.Artifact) {
	_ = retry(ctx, 10*time.Second, func(ctx context.Context) error {
		return c.call(ctx, http.MethodPost, runPath(runID, "/artifacts/discard"), map[string]any{"artifacts": toWire(arts)}, nil)
	})
}

// AppendRunLogs hands lines to the run's spool, which delivers them in
// order, each once, whatever the network does; held turns false once the
// hub says the run is no longer this agent's.
func (c *Client) AppendRunLogs(ctx context.Context, runID, _ string, lines []hub.LogLine) (bool, error) {
	return c.spools.get(runID).append(lines)
}

// finishMaxLines is the most log lines the hub takes with a run's end.
const finishMaxLines = 10000

// FinishRun delivers what the spool holds, then the run's end, retrying
// for up to a lease.
func (c *Client) FinishRun(ctx context.Context, runID, _ string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error) {
	sp := c.spools.get(runID)
	defer c.spools.drop(runID)
	for len(lines) > finishMaxLines {
		// The finish call carries at most finishMaxLines; the lines before
		// those go through the spool first, in order, in batches the hub
		// takes.
		n := min(len(lines)-finishMaxLines, finishMaxLines)
		if held, err := sp.append(lines[:n]); err != nil || !held {
			return false, err
		}
		lines = lines[n:]
	}
	lease := c.leaseDuration()
	held, err := sp.drain(ctx, lease)
	if err != nil {
		return false, err
	}
	if !held {
		return false, nil
	}
	body := map[string]any{"status": res.Status, "exit_code": res.ExitCode, "error_message": res.ErrorMessage,
		"finished_at": res.FinishedAt, "lines": wireLines(lines), "artifacts": toWire(arts)}
	var out struct {
		Recorded bool `json:"recorded"`
	}
	err = retry(ctx, lease, func(ctx context.Context) error {
		return c.call(ctx, http.MethodPost, runPath(runID, "/finish"), body, &out)
	})
	return out.Recorded, err
}

// FailRun ends a held run FAILED before its robot ran.
func (c *Client) FailRun(ctx context.Context, runID, _, errMsg, logMsg string) error {
	sp := c.spools.get(runID)
	defer c.spools.drop(runID)
	if _, err := sp.drain(ctx, c.leaseDuration()); err != nil {
		return err
	}
	return retry(ctx, c.leaseDuration(), func(ctx context.Context) error {
		return c.call(ctx, http.MethodPost, runPath(runID, "/fail"), map[string]any{"error": errMsg, "log": logMsg}, nil)
	})
}

// Heartbeat says the agent is alive, with what it says of itself.
func (c *Client) Heartbeat(ctx context.Context, w hub.Worker) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return c.Register(cctx, c.registration(), w.Concurrency, w.RunningRuns, w.StartedAt)
}

// WorkerStopped says the agent stopped.
func (c *Client) WorkerStopped(ctx context.Context, _ string, _ time.Time) error {
	err := c.call(ctx, http.MethodPost, "/agent/stopped", struct{}{}, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // the hub marks it by its heartbeat
	}
	return err
}

// PendingPrepares lists no prepare requests: the agent protocol does not
// carry them yet, so an agent builds a robot's Python environment at the
// robot's first run on it.
func (c *Client) PendingPrepares(context.Context, string, time.Time, int) ([]hub.PrepareRequest, error) {
	return nil, nil
}

// EnvironmentReady is not reported to the hub by an agent yet (see
// PendingPrepares); the environment is still built and reused locally.
func (c *Client) EnvironmentReady(context.Context, hub.WorkerEnv) error { return nil }

// EnvironmentsGone is not reported by an agent yet (see PendingPrepares).
func (c *Client) EnvironmentsGone(context.Context, string, []string) error { return nil }
