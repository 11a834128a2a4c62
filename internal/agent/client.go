// Package agent is a remote agent: the hub's executor running on a desktop
// or server that reaches the hub only over HTTPS, with a credential of its
// own. Client is executor.RunState over the hub's agent protocol; log
// lines go through a disk spool, so that a network cut never loses or
// repeats one, and Run enrols, registers and runs the worker.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
)

// Client speaks the agent protocol (/api/v1/agent/…) and serves
// executor.RunState from it.
type Client struct {
	base       string // https://hub.example/api/v1
	credential string
	version    string
	http       *http.Client
	log        *slog.Logger
	spools     *spools
	// lease is the hub's lease: how long calls of a run are retried.
	lease time.Duration

	mu       sync.Mutex
	versions map[string]*hub.Version // of claimed runs
	revoked  error                   // set by a 401: the agent was cut off
	reg      Registration
}

var _ executor.RunState = (*Client)(nil)

// ClientConfig tunes a client.
type ClientConfig struct {
	// Server is the hub's URL; Credential the agent's own (hubagent_…).
	Server, Credential, Version string
	// SpoolDir holds the log spool; SpoolMaxBytes bounds what one run may
	// hold there while the hub is unreachable (default 256 MiB).
	SpoolDir      string
	SpoolMaxBytes int64
	Lease         time.Duration
	HTTP          *http.Client
	Logger        *slog.Logger
}

// NewClient returns a client of the hub at cfg.Server.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := apiBase(cfg.Server)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: newTransport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.SpoolMaxBytes <= 0 {
		cfg.SpoolMaxBytes = 256 << 20
	}
	c := &Client{base: base, credential: cfg.Credential, version: cfg.Version, http: cfg.HTTP, log: cfg.Logger, lease: cfg.Lease,
		versions: map[string]*hub.Version{}}
	c.spools = newSpools(c, cfg.SpoolDir, cfg.SpoolMaxBytes)
	return c, nil
}

// newTransport dials with keep-alives and bounded waits, so that a cut
// connection is noticed.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 0 // the claim is a long poll; calls carry their own deadlines
	t.MaxIdleConnsPerHost = 16
	return t
}

// apiBase turns https://hub.example into https://hub.example/api/v1.
func apiBase(server string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("agent: --server must be the hub's URL (https://hub.example), not %q", server)
	}
	return strings.TrimRight(u.String(), "/") + "/api/v1", nil
}

// SetLease sets how long calls of a run are retried (the hub's lease).
func (c *Client) SetLease(d time.Duration) {
	if d > 0 {
		c.mu.Lock()
		c.lease = d
		c.mu.Unlock()
	}
}

func (c *Client) leaseDuration() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease
}

// Revoked returns the error of a refused credential (nil while it works).
func (c *Client) Revoked() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.revoked
}

// apiError is an error answer of the hub.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.status, e.detail) }

// asHub turns an answer into a hub error of the matching kind, so that the
// executor tells refusals (no retry) from outages.
func (e *apiError) asHub() error {
	kind := hub.EInternal
	switch e.status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		kind = hub.EInvalid
	case http.StatusUnauthorized:
		kind = hub.EUnauthorized
	case http.StatusForbidden:
		kind = hub.EForbidden
	case http.StatusNotFound:
		kind = hub.ENotFound
	case http.StatusConflict:
		kind = hub.EConflict
	case http.StatusRequestEntityTooLarge:
		kind = hub.ETooLarge
	case http.StatusInsufficientStorage:
		kind = hub.EUnavailable
	}
	if kind == hub.EInternal {
		return e
	}
	return fmt.Errorf("%w", &hub.Error{Kind: kind, Message: e.detail})
}

// retryable says whether a call may succeed when tried again: the network
// or a hub that is restarting or overloaded.
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status >= 500 && ae.status != http.StatusInsufficientStorage
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// call sends one request: body is JSON-encoded (nil: none), out decoded.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return c.callRaw(ctx, method, path, b, out)
}

// callRaw sends one request with a JSON body already encoded (nil: none).
func (c *Client) callRaw(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
	}
	return nil
}

// do sends req with the credential; an answer of 400 or more is an error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.credential)
	}
	req.Header.Set("User-Agent", "automationhub-agent/"+c.version)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Detail string `json:"detail"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Detail == "" {
		e.Detail = strings.TrimSpace(string(b))
	}
	ae := &apiError{status: resp.StatusCode, detail: e.Detail}
	if resp.StatusCode == http.StatusUnauthorized && c.credential != "" {
		c.mu.Lock()
		c.revoked = ae.asHub()
		c.mu.Unlock()
	}
	return nil, ae.asHub()
}

// retry calls fn until it succeeds, fails for good, ctx ends or for has
// passed (backoff from 200 ms to 2 s).
func retry(ctx context.Context, for_ time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(for_)
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline), time.Second))
		err := fn(cctx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Registration is what the agent says of itself.
type Registration struct {
	Hostname string   `json:"hostname"`
	OS       string   `json:"os"`
	Version  string   `json:"version"`
	Labels   []string `json:"labels"`
}

// Enrolled is the answer to an enrolment.
type Enrolled struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	HubVersion string `json:"hub_version"`
}

// Enroll trades an enrolment token for the agent's own credential.
func Enroll(ctx context.Context, server, token string, reg Registration, httpc *http.Client) (*Enrolled, error) {
	c, err := NewClient(ClientConfig{Server: server, Version: reg.Version, HTTP: httpc})
	if err != nil {
		return nil, err
	}
	body := struct {
		Token string `json:"token"`
		Registration
	}{token, reg}
	var out Enrolled
	if err := c.call(ctx, http.MethodPost, "/agent/enroll", body, &out); err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	return &out, nil
}

// Register sends the agent's heartbeat with what it says of itself; the
// hub checks its version.
func (c *Client) Register(ctx context.Context, reg Registration, concurrency, running int, started time.Time) error {
	body := struct {
		Registration
		Concurrency int       `json:"concurrency"`
		RunningRuns int       `json:"running_runs"`
		StartedAt   time.Time `json:"started_at"`
	}{reg, max(concurrency, 1), running, started}
	return c.call(ctx, http.MethodPost, "/agent/heartbeat", body, nil)
}
