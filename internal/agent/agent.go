package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"automationhub/internal/archive"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
)

// Options configure an agent.
type Options struct {
	// Server is the hub's URL; Token an enrolment token, needed only until
	// the agent has its own credential (kept in DataDir).
	Server, Token string
	// DataDir holds the credential (credential.json, mode 0600), the log
	// spool, the package cache and the runs' folders.
	DataDir     string
	Labels      []string
	Concurrency int
	Version     string
	// SpoolMaxBytes bounds the log lines one run may hold on disk while
	// the hub is unreachable.
	SpoolMaxBytes    int64
	MaxArtifactBytes int64
	Limits           archive.Limits
	PythonExecutable string
	GracePeriod      time.Duration
	// ShutdownTimeout is how long running robots may finish when the agent
	// stops.
	ShutdownTimeout time.Duration
	Sandbox         executor.Sandbox
	HTTP            *http.Client
	Logger          *slog.Logger
	// Ready, when set, is closed once the agent is registered and takes work.
	Ready chan struct{}
}

// credential is what the agent keeps of its enrolment.
type credential struct {
	Server     string `json:"server"`
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
}

// CredentialFile is the name of the credential in the data folder.
const CredentialFile = "credential.json"

// LoadCredential reads the agent's credential from its data folder; nil
// when it has none.
func loadCredential(dir string) (*credential, error) {
	b, err := os.ReadFile(filepath.Join(dir, CredentialFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c credential
	if err := json.Unmarshal(b, &c); err != nil || c.Credential == "" || c.AgentID == "" {
		return nil, fmt.Errorf("%s is damaged: remove it and enrol again with a new token", filepath.Join(dir, CredentialFile))
	}
	return &c, nil
}

func saveCredential(dir string, c *credential) error {
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp, err := os.CreateTemp(dir, ".credential-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, CredentialFile))
}

// Labels returns the labels an agent advertises: those configured, its
// operating system (os=…) and, in a signed-in desktop session,
// session=interactive.
func Labels(configured []string) []string {
	out := slices.Clone(configured)
	out = append(out, "os="+runtime.GOOS)
	if InteractiveSession() {
		out = append(out, "session=interactive")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Enrol makes sure the agent has its credential: the one in its data
// folder, or a new one traded for o.Token.
func Enrol(ctx context.Context, o Options) (agentID, cred string, err error) {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("agent data folder: %w", err)
	}
	c, err := loadCredential(o.DataDir)
	if err != nil {
		return "", "", err
	}
	if c != nil && (o.Token == "" || c.Server == o.Server) {
		return c.AgentID, c.Credential, nil
	}
	if o.Token == "" {
		return "", "", errors.New("this agent is not enrolled: give an enrolment token (--token or HUB_AGENT_TOKEN) from an administrator")
	}
	host, _ := os.Hostname()
	e, err := Enroll(ctx, o.Server, o.Token, Registration{Hostname: host, OS: runtime.GOOS, Version: o.Version, Labels: Labels(o.Labels)}, o.HTTP)
	if err != nil {
		return "", "", err
	}
	if err := saveCredential(o.DataDir, &credential{Server: o.Server, AgentID: e.AgentID, Credential: e.Credential}); err != nil {
		return "", "", fmt.Errorf("keep the agent's credential: %w", err)
	}
	return e.AgentID, e.Credential, nil
}

// Run enrols when needed, registers with the hub and runs robots until ctx
// ends (running robots then get ShutdownTimeout to finish) or the hub cuts
// the agent off.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	log := o.Logger
	agentID, cred, err := Enrol(ctx, o)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	reg := Registration{Hostname: host, OS: runtime.GOOS, Version: o.Version, Labels: Labels(o.Labels)}
	c, err := NewClient(ClientConfig{Server: o.Server, Credential: cred, Version: o.Version, SpoolDir: filepath.Join(o.DataDir, "spool"),
		SpoolMaxBytes: o.SpoolMaxBytes, HTTP: o.HTTP, Logger: log})
	if err != nil {
		return err
	}
	c.SetRegistration(reg)
	started := time.Now()
	// The first heartbeat checks the version and says how long a lease is;
	// a hub that is not reachable yet is waited for.
	var lease time.Duration
	for attempt := 0; ; attempt++ {
		lease, err = c.hello(ctx, o.Concurrency, started)
		if err == nil {
			break
		}
		if !retryable(err) || ctx.Err() != nil {
			return fmt.Errorf("registering with the hub: %w", err)
		}
		if attempt%10 == 0 {
			log.Warn("the hub is not reachable yet; retrying", "server", o.Server, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second)):
		}
	}
	c.SetLease(lease)
	w := executor.New(c, executor.Config{
		ID: agentID, Hostname: host, Version: o.Version, Concurrency: o.Concurrency, Labels: reg.Labels,
		LeaseDuration: lease, PythonExecutable: o.PythonExecutable, WorkDir: filepath.Join(o.DataDir, "work"),
		Limits: o.Limits, GracePeriod: o.GracePeriod, MaxArtifactBytes: o.MaxArtifactBytes, BaseEnv: os.Environ(),
		Sandbox: o.Sandbox, Env: c, Logger: log,
	})
	if err := w.Start(ctx); err != nil {
		return err
	}
	log.Info("agent started", "agent_id", agentID, "server", o.Server, "labels", reg.Labels, "lease", lease.String())
	if o.Ready != nil {
		close(o.Ready)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var cut error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-t.C:
			if cut = c.Revoked(); cut != nil {
				log.Error("the hub refused this agent's credential; stopping", "error", cut.Error())
				break wait
			}
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	if cut != nil {
		cancel() // a revoked agent may not record anything: stop its robots now
	}
	err = w.Stop(stopCtx)
	if cut != nil {
		return fmt.Errorf("the hub cut this agent off: %s", hub.ErrorMessage(cut))
	}
	return err
}

// hello sends the first heartbeat; it returns the hub's lease.
func (c *Client) hello(ctx context.Context, concurrency int, started time.Time) (time.Duration, error) {
	var out struct {
		HubVersion   string `json:"hub_version"`
		LeaseSeconds int    `json:"lease_seconds"`
	}
	body := struct {
		Registration
		Concurrency int       `json:"concurrency"`
		RunningRuns int       `json:"running_runs"`
		StartedAt   time.Time `json:"started_at"`
	}{c.registration(), concurrency, 0, started}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.call(cctx, http.MethodPost, "/agent/heartbeat", body, &out); err != nil {
		return 0, err
	}
	if out.LeaseSeconds <= 0 {
		out.LeaseSeconds = 60
	}
	return time.Duration(out.LeaseSeconds) * time.Second, nil
}
