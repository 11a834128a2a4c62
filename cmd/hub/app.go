package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"automationhub/internal/archive"
	"automationhub/internal/blob"
	"automationhub/internal/config"
	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/metrics"
	"automationhub/internal/registry"
	"automationhub/internal/sqlstore"
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
	// Addr is the bound HTTP address, valid after Ready.
	Addr net.Addr

	db     *sqlstore.DB
	redis  *redis.Client
	server *httpapi.Server
}

// Run runs the role ("all", "serve", "worker", "cleanup" or "migrate") until
// ctx is cancelled, then shuts down in order: stop accepting HTTP, stop the
// workers, then close the bus and the database (in Close).
func (m *Main) Run(ctx context.Context, role string) error {
	if m.Ready == nil {
		m.Ready = make(chan struct{})
	}
	log := m.Logger
	log.Info("starting", "role", role, "version", m.Version, "database", m.Config.Database().Dialect,
		"queue", map[bool]string{true: "redis", false: "in-process"}[m.Config.RedisURL != ""])
	log.Debug("configuration", "settings", m.Config.Redacted())

	db, err := sqlstore.Open(ctx, m.Config.Database(), sqlstore.Options{})
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
	}
	if m.Config.RedisURL != "" {
		opts, err := redis.ParseURL(m.Config.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		m.redis = redis.NewClient(opts)
	}

	g, gctx := errgroup.WithContext(ctx)
	if role == "all" || role == "serve" {
		if err := m.startServer(gctx); err != nil {
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
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), time.Duration(m.Config.ShutdownTimeoutSeconds)*time.Second)
			defer cancel()
			log.Info("stopping HTTP server", "drain_timeout_seconds", m.Config.ShutdownTimeoutSeconds)
			return m.server.Stop(stopCtx)
		})
	}
	if role == "all" || role == "worker" {
		g.Go(func() error { return idle(gctx, log, "worker") })
	}
	if role == "all" || role == "cleanup" {
		g.Go(func() error { return idle(gctx, log, "cleanup") })
	}
	close(m.Ready)
	err = g.Wait()
	log.Info("stopped", "role", role)
	return err
}

func (m *Main) startServer(ctx context.Context) error {
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
	blobs, err := blob.NewLocal(m.Config.ArtifactsRoot)
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	reg := registry.New(m.db, blobs, registry.Config{
		MaxArtifactBytes: m.Config.MaxArtifactBytes,
		Limits:           archive.Limits{MaxFiles: m.Config.MaxArtifactFiles, MaxUnpackedBytes: m.Config.MaxArtifactUnpackedBytes},
		Logger:           m.Logger,
	})
	srv, err := httpapi.New(httpapi.Deps{
		Config:   m.Config,
		Logger:   m.Logger,
		Metrics:  metrics.New(m.Version),
		Version:  m.Version,
		Ready:    checks,
		Auth:     ids,
		Accounts: ids,
		Registry: reg,
	})
	if err != nil {
		return err
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

// identityConfig maps settings to the identity service's configuration.
func identityConfig(cfg config.Config, secret string, log *slog.Logger) identity.Config {
	ic := identity.Config{
		SecretKey:     secret,
		TokenTTL:      time.Duration(cfg.AccessTokenExpireMinutes) * time.Minute,
		AuthMode:      cfg.AuthMode,
		AllowLocal:    cfg.AllowLocalAuth,
		AutoProvision: cfg.AutoProvisionAzureUsers,
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

// idle is the placeholder loop of a role that has no work yet: it stays up
// until shutdown so supervisors see a healthy process.
func idle(ctx context.Context, log *slog.Logger, role string) error {
	log.Info("role started; nothing to do yet", "role", role)
	<-ctx.Done()
	log.Info("role stopped", "role", role)
	return nil
}

// Close releases what Run opened: the Redis client, then the database.
// Safe to call more than once.
func (m *Main) Close() error {
	var errs []error
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
