package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"automationhub/internal/agents"
	"automationhub/internal/archive"
	"automationhub/internal/blob"
	"automationhub/internal/buildinfo"
	"automationhub/internal/bus"
	"automationhub/internal/bus/membus"
	"automationhub/internal/bus/redisbus"
	"automationhub/internal/cleanup"
	"automationhub/internal/config"
	"automationhub/internal/executor"
	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/metrics"
	"automationhub/internal/pools"
	"automationhub/internal/portal"
	"automationhub/internal/registry"
	"automationhub/internal/robotenv"
	"automationhub/internal/runs"
	"automationhub/internal/runstate"
	"automationhub/internal/sandbox"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
	"automationhub/internal/webui"
	"automationhub/web"
)

// Main is the composition root: it opens what the chosen roles need, wires
// the packages together and runs them until the context ends. End-to-end
// tests drive it the same way main does.
type Main struct {
	Config  config.Config
	Logger  *slog.Logger
	Version string
	Stdout  io.Writer

	// Ready is closed once every role has started (the HTTP listener is bound).
	Ready chan struct{}
	// CleanupOnce runs one retention pass and returns (hub cleanup --once);
	// DryRun only reports what it would remove (--dry-run).
	CleanupOnce, DryRun bool
	// Addr is the bound HTTP address, valid after Ready.
	Addr net.Addr
	// ProbeAddr is the bound address of HUB_WORKER_ADDR (hub worker and hub
	// cleanup), valid after Ready; nil when it is not set.
	ProbeAddr net.Addr

	// wrapRunState, when set, wraps the worker's store (tests slow it down
	// or make it fail).
	wrapRunState func(executor.RunState) executor.RunState
	// agents serves remote agents (roles all and serve).
	agents *agents.Service

	build     buildinfo.Info // from Version and the binary's build record
	db        *sqlstore.DB
	redis     *redis.Client
	bus       bus.Bus
	blobs     *blob.Local
	metrics   *metrics.Metrics
	server    *httpapi.Server
	scheduler *schedule.Scheduler
	alerting  *alerting
}

// openBus connects the queue and live-log transport: Redis when REDIS_URL is
// set, else the in-process bus (which only links roles inside one process).
func (m *Main) openBus(role string) error {
	if m.Config.RedisURL == "" {
		if role == "worker" {
			return errors.New("hub worker needs REDIS_URL: without Redis, runs are dispatched only inside `hub all`")
		}
		if role == "serve" {
			m.Logger.Warn("REDIS_URL is empty: runs queued by this API are executed only by a worker in this process (use `hub all`, or set REDIS_URL)")
		}
		m.bus = membus.New(membus.Options{})
		return nil
	}
	opts, err := redis.ParseURL(m.Config.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	m.redis = redis.NewClient(opts)
	b, err := redisbus.New(m.redis, redisbus.Options{QueueKey: m.Config.RedisQueueName, ChannelPrefix: m.Config.RedisPubSubPrefix})
	if err != nil {
		return fmt.Errorf("redis bus: %w", err)
	}
	m.bus = b
	return nil
}

// workerID is HUB_WORKER_ID, or a stable id from the host name and the data
// folder, so a restarted worker keeps its identity (and its row).
func workerID(cfg config.Config) string {
	if cfg.WorkerID != "" {
		return cfg.WorkerID
	}
	host, _ := os.Hostname()
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		abs = cfg.DataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return host + "-" + hex.EncodeToString(sum[:4])
}

// Run runs the role ("all", "serve", "worker", "cleanup" or "migrate") until
// ctx is cancelled, then shuts down in order: stop accepting HTTP, stop the
// workers, then close the bus and the database (in Close).
func (m *Main) Run(ctx context.Context, role string) error {
	if m.Ready == nil {
		m.Ready = make(chan struct{})
	}
	log := m.Logger
	m.build = buildinfo.Read(m.Version)
	build := m.build
	log.Info("starting", "role", role, "version", build.Version, "commit", build.ShortCommit(), "build_date", build.Date, "database", m.Config.Database().Dialect,
		"queue", map[bool]string{true: "redis", false: "in-process"}[m.Config.RedisURL != ""])
	log.Debug("configuration", "settings", m.Config.Redacted())

	db, err := sqlstore.Open(ctx, m.Config.Database(), sqlstore.Options{WorkerStaleAfter: time.Duration(m.Config.WorkerStaleSeconds) * time.Second})
	if err != nil {
		return err
	}
	m.db = db

	if role == "migrate" {
		res, err := db.Migrate(ctx, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "database schema at version %d (%d migrations applied)\n", res.To, len(res.Applied))
		close(m.Ready)
		return nil
	}
	if role == "all" || role == "serve" {
		if _, err := db.Migrate(ctx, log); err != nil {
			return err
		}
	} else if err := checkSchema(ctx, db, log); err != nil {
		return err
	}
	if err := m.openBus(role); err != nil {
		return err
	}
	blobs, err := blob.NewLocal(m.Config.ArtifactsRoot)
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	m.blobs = blobs
	m.metrics = metrics.New(build)
	m.metrics.RegisterDiskSpace(metrics.Folder{Name: "data", Path: m.Config.DataDir}, metrics.Folder{Name: "artifacts", Path: m.Config.ArtifactsRoot})
	if m.Config.WorkerAddr != "" && (role == "worker" || role == "cleanup") && !m.CleanupOnce {
		stopProbes, err := m.startProbes(ctx, role)
		if err != nil {
			return err
		}
		defer stopProbes()
	}

	var config *robotenv.Service
	if role == "all" || role == "serve" || role == "worker" {
		if config, err = m.robotConfig(ctx); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	stopTimeout := time.Duration(m.Config.ShutdownTimeoutSeconds) * time.Second
	if role == "all" || role == "serve" {
		runSvc := runs.New(m.db, m.bus, blobs, runs.Config{
			DefaultTimeout: time.Duration(m.Config.RunDefaultTimeoutSeconds) * time.Second,
			StaleAfter:     time.Duration(m.Config.WorkerStaleSeconds) * time.Second,
			Agents:         agentIDs{m.db},
			Logger:         log,
		})
		if err := m.startServer(gctx, runSvc, config); err != nil {
			return err
		}
		rec := runs.NewReconciler(runSvc)
		if err := rec.Start(gctx); err != nil {
			return err
		}
		if err := m.scheduler.Start(gctx); err != nil {
			return err
		}
		if err := m.alerting.start(gctx, publicURL(m.Config, m.Addr)); err != nil {
			return err
		}
		g.Go(func() error {
			select {
			case <-gctx.Done():
			case <-m.server.Done():
				if err := m.server.Err(); err != nil {
					return fmt.Errorf("http server: %w", err)
				}
			}
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), stopTimeout)
			defer cancel()
			log.Info("stopping HTTP server", "drain_timeout_seconds", m.Config.ShutdownTimeoutSeconds)
			err := m.server.Stop(stopCtx)
			_ = m.scheduler.Stop(stopCtx)
			m.alerting.stop(stopCtx)
			_ = rec.Stop(stopCtx)
			return err
		})
	}
	if role == "all" || role == "worker" {
		robots, err := m.robotSandbox()
		if err != nil {
			return err
		}
		var state executor.RunState = runstate.New(m.db, m.bus, blobs, runstate.Config{MaxArtifactBytes: m.Config.MaxArtifactBytes, Logger: log})
		if m.wrapRunState != nil {
			state = m.wrapRunState(state)
		}
		w := executor.New(state, executor.Config{
			ID: workerID(m.Config), Version: build.Version, Concurrency: m.Config.WorkerConcurrency, Labels: m.Config.Labels(),
			LeaseDuration:    time.Duration(m.Config.WorkerStaleSeconds) * time.Second,
			PythonExecutable: m.Config.PythonExecutable,
			WorkDir:          filepath.Join(m.Config.DataDir, "worker"),
			Limits:           archive.Limits{MaxFiles: m.Config.MaxArtifactFiles, MaxUnpackedBytes: m.Config.MaxArtifactUnpackedBytes},
			MaxArtifactBytes: m.Config.MaxArtifactBytes,
			MaxRunDiskBytes:  m.Config.RunMaxDiskBytes,
			BaseEnv:          os.Environ(),
			Sandbox:          robots,
			Observer:         m.metrics.RunObserver(),
			Env:              config,
			Logger:           log,

			PythonExecutables:     m.Config.PythonExecutables,
			PythonEnvUV:           m.Config.PythonEnvUV,
			PythonEnvBuildTimeout: time.Duration(m.Config.PythonEnvBuildTimeoutSeconds) * time.Second,
			PythonEnvCacheBytes:   m.Config.PythonEnvCacheBytes,
			PythonEnvUnused:       time.Duration(m.Config.WorkspaceCacheDays) * 24 * time.Hour,
		})
		m.metrics.RegisterWorker(m.Config.WorkerConcurrency, w.Busy)
		if err := w.Start(gctx); err != nil {
			return err
		}
		g.Go(func() error {
			<-gctx.Done()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), stopTimeout)
			defer cancel()
			log.Info("stopping worker: running robots may finish", "timeout_seconds", m.Config.ShutdownTimeoutSeconds)
			return w.Stop(stopCtx)
		})
	}
	if role == "all" || role == "cleanup" {
		cl := cleanup.New(m.db, blobs, cleanup.Config{
			LogRetention:      time.Duration(m.Config.LogRetentionDays) * 24 * time.Hour,
			ArtifactRetention: time.Duration(m.Config.ArtifactRetentionDays) * 24 * time.Hour,
			CacheRetention:    time.Duration(m.Config.WorkspaceCacheDays) * 24 * time.Hour,
			PythonEnvBudget:   m.Config.PythonEnvCacheBytes,
			WorkerID:          workerID(m.Config),
			Interval:          time.Duration(m.Config.CleanupIntervalHours) * time.Hour,
			WorkDir:           filepath.Join(m.Config.DataDir, "worker"),
			Logger:            log,
			Observer:          m.metrics.CleanupObserver(),
		})
		if m.CleanupOnce {
			rep, err := cl.Pass(gctx, m.DryRun)
			if err != nil {
				return err
			}
			printReport(m.Stdout, rep)
			close(m.Ready)
			return nil
		}
		if err := cl.Start(gctx); err != nil {
			return err
		}
		g.Go(func() error {
			<-gctx.Done()
			return cl.Stop(context.WithoutCancel(gctx))
		})
	}
	close(m.Ready)
	err = g.Wait()
	log.Info("stopped", "role", role)
	return err
}

// startProbes serves /healthz, /readyz and /metrics on HUB_WORKER_ADDR for
// a worker or cleanup process: readiness checks the database, Redis for a
// worker (its queue), and turns 503 as soon as the process starts shutting
// down. The listener is bound before it returns (a busy port stops the
// start); the returned function closes it, after the role has stopped.
func (m *Main) startProbes(ctx context.Context, role string) (stop func(), err error) {
	checks := []httpapi.Check{{Name: "database", Func: m.db.Ping}}
	if role == "worker" && m.redis != nil {
		checks = append(checks, httpapi.Check{Name: "redis", Func: func(ctx context.Context) error {
			return m.redis.Ping(ctx).Err()
		}})
	}
	checks = append(checks, httpapi.Check{Name: role, Func: func(context.Context) error {
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		return nil
	}})
	ln, err := net.Listen("tcp", m.Config.WorkerAddr)
	if err != nil {
		return nil, fmt.Errorf("HUB_WORKER_ADDR: %w", err)
	}
	srv := &http.Server{Handler: httpapi.ProbeHandler(checks, m.metrics), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("health and metrics endpoint stopped", "addr", ln.Addr().String(), "error", err.Error())
		}
	}()
	m.ProbeAddr = ln.Addr()
	m.Logger.Info("health and metrics endpoint listening", "addr", ln.Addr().String())
	fmt.Fprintf(m.Stdout, "Health and metrics at http://%s (/healthz, /readyz, /metrics)\n", ln.Addr())
	return func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(stopCtx)
		<-done
	}, nil
}

// agentIDs tells remote agents from workers by their enrolment.
type agentIDs struct{ db *sqlstore.DB }

// IsAgent reports whether workerID is an enrolled agent's.
func (a agentIDs) IsAgent(ctx context.Context, workerID string) bool {
	if _, err := uuid.Parse(workerID); err != nil {
		return false
	}
	_, err := a.db.AgentByID(ctx, workerID)
	return err == nil
}

// agentService serves remote agents: their claims go through the same run
// state as a worker's; one dispatcher per hub takes ready signals for them.
func (m *Main) agentService(ctx context.Context, lease time.Duration, robotCfg *robotenv.Service) *agents.Service {
	state := runstate.New(m.db, m.bus, m.blobs, runstate.Config{MaxArtifactBytes: m.Config.MaxArtifactBytes, Logger: m.Logger})
	host, _ := os.Hostname()
	var configs agents.RunConfigs
	if robotCfg != nil {
		configs = robotCfg
	}
	svc := agents.New(m.db, state, m.bus, configs, agents.Config{Version: m.build.Version, Lease: lease,
		Consumer: "agents-" + host + "-" + strconv.Itoa(os.Getpid()), Logger: m.Logger})
	svc.Start(ctx)
	m.agents = svc
	return svc
}

func (m *Main) startServer(ctx context.Context, runSvc *runs.Service, robotCfg *robotenv.Service) error {
	checks := []httpapi.Check{{Name: "database", Func: m.db.Ping}}
	if m.redis != nil {
		checks = append(checks, httpapi.Check{Name: "redis", Func: func(ctx context.Context) error {
			return m.redis.Ping(ctx).Err()
		}})
	}
	secret, generated, err := ensureSecretKey(m.Config)
	if err != nil {
		return err
	}
	if generated {
		m.Logger.Info("generated a random SECRET_KEY and stored it in the data folder", "folder", m.Config.DataDir)
	}
	ids := identity.New(m.db, identityConfig(m.Config, secret, m.Logger))
	if err := m.bootstrapAdmin(ctx, ids); err != nil {
		return err
	}
	reg := registry.New(m.db, m.blobs, registry.Config{
		MaxArtifactBytes: m.Config.MaxArtifactBytes,
		Limits:           archive.Limits{MaxFiles: m.Config.MaxArtifactFiles, MaxUnpackedBytes: m.Config.MaxArtifactUnpackedBytes},
		Logger:           m.Logger,
	})
	parallel := 1 // SQLite has one writer
	if m.db.Dialect() == config.Postgres {
		parallel = 4
	}
	m.scheduler = schedule.NewScheduler(m.db, m.bus, schedule.SchedulerConfig{
		CancelTopic: bus.CancelTopic, Logger: m.Logger, Observer: m.metrics.ScheduleObserver(), Parallel: parallel,
	})
	stale := time.Duration(m.Config.WorkerStaleSeconds) * time.Second
	m.metrics.RegisterRunStats(func(ctx context.Context) (hub.RunStats, error) {
		return m.db.RunStats(ctx, time.Now().UTC(), stale)
	})
	m.alerting = m.newAlerting(secret)
	schedules := schedule.New(m.db, nil, m.scheduler.Wake)
	schedules.CheckRunsFunc = runSvc.CheckScheduledRuns
	srv, err := httpapi.New(httpapi.Deps{
		Config:    m.Config,
		Logger:    m.Logger,
		Metrics:   m.metrics,
		Version:   m.build.Version,
		Ready:     checks,
		Auth:      ids,
		Accounts:  ids,
		Registry:  reg,
		Runs:      runSvc,
		LiveLogs:  m.bus,
		Ops:       runs.NewOps(m.db, stale, nil),
		Portal:    portal.New(m.db, runSvc, nil),
		RobotEnv:  robotCfg,
		Tokens:    ids,
		Schedules: schedules,
		Pools:     pools.New(m.db, m.bus, nil),
		Agents:    m.agentService(ctx, stale, robotCfg),
		Alerts:    m.alerting.service,
		Stats:     m.alerting.stats,
	})
	if err != nil {
		return err
	}
	if m.Config.WebUI {
		ui, err := webui.New(srv.APIHandler(), web.FS, webUIConfig(m.Config, secret, m.build.Label(), m.Logger))
		if err != nil {
			return err
		}
		srv.MountUI(ui)
	}
	addr, err := srv.Start(ctx)
	if err != nil {
		return err
	}
	m.server, m.Addr = srv, addr
	url := publicURL(m.Config, addr)
	m.Logger.Info("HTTP API listening", "addr", addr.String(), "url", url)
	fmt.Fprintf(m.Stdout, "Automation Hub is running at %s (API docs: %s/docs)\n", url, url)
	return nil
}

// webUIConfig maps settings to the web UI's configuration.
func webUIConfig(cfg config.Config, secret, version string, log *slog.Logger) webui.Config {
	wc := webui.Config{
		AppName:     cfg.AppName,
		SecretKey:   secret,
		PublicHTTPS: strings.HasPrefix(cfg.PublicURL, "https://"),
		LocalLogin:  cfg.AllowLocalAuth && cfg.AuthMode != "azure",
		Version:     version,
		Logger:      log,
	}
	if cfg.AzureEnabled() && cfg.AuthMode != "local" {
		issuer := cfg.AzureIssuer
		if issuer == "" {
			issuer = "https://login.microsoftonline.com/" + cfg.AzureTenantID + "/v2.0"
		}
		scopes := cfg.AzureUIScopes
		if len(scopes) == 0 {
			scopes = []string{strings.TrimSuffix(cfg.AzureAudience, "/") + "/.default"}
		}
		ms := &webui.MicrosoftConfig{Issuer: issuer, ClientID: cfg.AzureClientID, ClientSecret: cfg.AzureClientSecret, Scopes: scopes}
		if cfg.PublicURL != "" {
			ms.RedirectURL = strings.TrimSuffix(cfg.PublicURL, "/") + "/auth/callback"
		}
		wc.Microsoft = ms
	}
	return wc
}

// identityConfig maps settings to the identity service's configuration.
func identityConfig(cfg config.Config, secret string, log *slog.Logger) identity.Config {
	ic := identity.Config{
		SecretKey:     secret,
		TokenTTL:      time.Duration(cfg.AccessTokenExpireMinutes) * time.Minute,
		AuthMode:      cfg.AuthMode,
		AllowLocal:    cfg.AllowLocalAuth,
		AutoProvision: cfg.AutoProvisionAzureUsers,
		BcryptCost:    cfg.PasswordHashCost,
		AzureGroups: map[hub.Role][]string{
			hub.RoleAdmin:      cfg.AzureGroupAdminIDs,
			hub.RoleMaintainer: cfg.AzureGroupMaintainerIDs,
			hub.RoleOperator:   cfg.AzureGroupOperatorIDs,
			hub.RoleViewer:     cfg.AzureGroupViewerIDs,
		},
		AzureDefaultRole: hub.Role(cfg.AzureDefaultRole),
		Logger:           log,
	}
	if cfg.AzureDefaultRole == "none" {
		ic.AzureDefaultRole = hub.RoleNone
	}
	if cfg.AzureEnabled() {
		ic.Azure = identity.NewAzureVerifier(identity.AzureConfig{
			TenantID: cfg.AzureTenantID, ClientID: cfg.AzureClientID, Audience: cfg.AzureAudience,
			Issuer: cfg.AzureIssuer, JWKSURL: cfg.AzureJWKSURL,
		})
	}
	return ic
}

// bootstrapAdmin creates the first administrator of an empty hub and prints
// its credentials once when the password was generated.
func (m *Main) bootstrapAdmin(ctx context.Context, ids *identity.Service) error {
	res, err := ids.Bootstrap(ctx, m.Config.DefaultAdminUsername, m.Config.DefaultAdminPassword, m.Config.DefaultAdminEmail)
	if err != nil {
		return fmt.Errorf("create the first administrator: %w", err)
	}
	if !res.Created {
		return nil
	}
	m.Logger.Info("created the first administrator", "username", res.Username)
	if res.Password != "" {
		fmt.Fprintf(m.Stdout, "First administrator created: user %q, password %s\n"+
			"(shown only this once; change it after signing in, or set DEFAULT_ADMIN_PASSWORD before the first start)\n",
			res.Username, res.Password)
	}
	return nil
}

// robotSandbox is how the worker confines robots (ROBOT_SANDBOX): through
// this binary as launcher when the kernel can confine them (auto) or in any
// case (required: the launcher then refuses to run them unconfined), as
// ROBOT_USER when the worker is root and one is set. It says once at start
// what robots get.
func (m *Main) robotSandbox() (executor.Sandbox, error) {
	mode := m.Config.RobotSandbox
	ok, why := sandbox.Available()
	if mode == "off" || mode == "auto" && !ok {
		if m.Config.RobotUser != "" {
			return executor.Sandbox{}, fmt.Errorf("ROBOT_USER needs confined robots, but %s", map[bool]string{true: "ROBOT_SANDBOX=off", false: why}[mode == "off"])
		}
		if mode == "auto" {
			m.Logger.Warn("robots run unconfined: "+why+"; they can read what this user can (set ROBOT_SANDBOX=required to refuse)", "sandbox", "none")
		} else {
			m.Logger.Warn("robots run unconfined (ROBOT_SANDBOX=off)", "sandbox", "none")
		}
		return executor.Sandbox{}, nil
	}
	launcher, err := executor.LauncherPath()
	if err != nil {
		return executor.Sandbox{}, fmt.Errorf("find the hub binary to confine robots: %w", err)
	}
	hidden := []string{m.Config.DataDir, m.Config.ArtifactsRoot, filepath.Join(m.Config.DataDir, "worker"), absOrEmpty(".env")}
	if db := m.Config.Database(); db.Dialect == config.SQLite {
		hidden = append(hidden, db.DSN)
	}
	hidden = append(hidden, m.Config.SecretFiles...)
	sb := executor.Sandbox{Launcher: launcher, Required: mode == "required", Hidden: hidden}
	if sb.UID, sb.GID, err = m.robotUser(); err != nil {
		return executor.Sandbox{}, err
	}
	if ok {
		m.Logger.Info("robots are confined (Landlock): they may write only their own run folder", "sandbox", "landlock", "robot_uid", sb.UID)
	} else {
		m.Logger.Error("ROBOT_SANDBOX=required but "+why+": every run will fail until it can be confined", "sandbox", "none")
	}
	if sb.Groups, err = sandbox.NewRunGroups(); err != nil {
		m.Logger.Warn("runs get no cgroup: a process a robot detaches with setsid can outlive its run", "error", err.Error())
		sb.Groups = nil
	}
	return sb, nil
}

// robotUser resolves ROBOT_USER (a name or a uid) when the worker runs as
// root; robots then need to traverse the data folder to reach their run.
func (m *Main) robotUser() (uid, gid int, err error) {
	name := strings.TrimSpace(m.Config.RobotUser)
	if name == "" {
		if os.Geteuid() == 0 {
			m.Logger.Info("robots run as root without any capability; set ROBOT_USER to run them as a dedicated user")
		}
		return 0, 0, nil
	}
	if os.Geteuid() != 0 {
		m.Logger.Warn("ROBOT_USER is ignored: only a worker running as root can start robots as another user", "robot_user", name)
		return 0, 0, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, fmt.Errorf("ROBOT_USER %q: no such user", name)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if uid == 0 {
		return 0, 0, fmt.Errorf("ROBOT_USER %q is root", name)
	}
	if err := os.Chmod(m.Config.DataDir, 0o711); err != nil {
		return 0, 0, fmt.Errorf("let ROBOT_USER reach its run folders: %w", err)
	}
	return uid, gid, nil
}

func absOrEmpty(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	return abs
}

// printReport writes a cleanup report as a small table.
func printReport(w io.Writer, rep *cleanup.Report) {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	if rep.Skipped {
		fmt.Fprintln(w, "another cleanup holds the lock: database retention skipped")
	}
	kinds := make([]string, 0, len(rep.Kinds))
	for k := range rep.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "cleanup %s (in %s):\n", verb, rep.Duration.Round(time.Millisecond))
	for _, k := range kinds {
		it := rep.Kinds[k]
		fmt.Fprintf(w, "  %-15s %10d rows %8d files %14d bytes\n", k, it.Rows, it.Files, it.Bytes)
	}
	if len(kinds) == 0 {
		fmt.Fprintln(w, "  nothing")
	}
}

// Close releases what Run opened: the Redis client, then the database.
// Safe to call more than once.
func (m *Main) Close() error {
	var errs []error
	if m.bus != nil {
		errs = append(errs, m.bus.Close())
		m.bus = nil
	}
	if m.redis != nil {
		errs = append(errs, m.redis.Close())
		m.redis = nil
	}
	if m.db != nil {
		errs = append(errs, m.db.Close())
		m.db = nil
	}
	return errors.Join(errs...)
}

// publicURL is HUB_PUBLIC_URL, or a URL built from the bound address with
// "localhost" for wildcard hosts.
func publicURL(cfg config.Config, addr net.Addr) string {
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
