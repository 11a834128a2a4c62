package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// startMain runs Main with the given role and settings in the background and
// returns it once it is ready, plus a stop function that cancels it and
// returns Run's error.
func startMain(t testing.TB, role string, vars map[string]string) (*Main, func() error) {
	t.Helper()
	return startMainWith(t, role, vars, nil)
}

// startMainWith is startMain with a hook that adjusts Main before it runs.
func startMainWith(t testing.TB, role string, vars map[string]string, adjust func(*Main)) (*Main, func() error) {
	t.Helper()
	base := map[string]string{"HUB_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": t.TempDir(), "CORS_ORIGINS": "",
		"ENVIRONMENT": "test", "PASSWORD_HASH_COST": "4"}
	for k, v := range vars {
		base[k] = v
	}
	// Roles on PostgreSQL need the shared key of robot configuration.
	if strings.HasPrefix(base["DATABASE_URL"], "postgres") && base["ENCRYPTION_KEY"] == "" {
		base["ENCRYPTION_KEY"] = testEncryptionKey
	}
	cfg, err := config.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler), Version: "test", Stdout: &lockedBuffer{}, Ready: make(chan struct{})}
	if adjust != nil {
		adjust(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx, role) }()
	select {
	case <-m.Ready:
	case err := <-errc:
		cancel()
		m.Close()
		t.Fatalf("Run(%s) ended before ready: %v", role, err)
	case <-readyDeadline(t):
		cancel()
		t.Fatalf("Run(%s) not ready before the test's deadline", role)
	}
	var once bool
	var runErr error
	stop := func() error {
		if once {
			return runErr
		}
		once = true
		cancel()
		select {
		case runErr = <-errc:
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
		}
		if err := m.Close(); err != nil && runErr == nil {
			runErr = err
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return m, stop
}

// testEncryptionKey is the ENCRYPTION_KEY of test hubs on PostgreSQL.
const testEncryptionKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

// readyDeadline fires shortly before the test binary's own deadline: a slow
// machine makes start-up slow, never a failure, while a hub that truly hangs
// still fails with a message instead of a panic dump.
func readyDeadline(t testing.TB) <-chan time.Time {
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok {
			return time.After(time.Until(d) - 30*time.Second)
		}
	}
	return time.After(10 * time.Minute)
}

// lockedBuffer is a goroutine-safe stdout for Main.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, body
}

func TestAllInOneOnEmbeddedDefaults(t *testing.T) {
	dataDir := t.TempDir()
	m, stop := startMain(t, "all", map[string]string{"HUB_DATA_DIR": dataDir})
	base := "http://" + m.Addr.String()
	if code, body := getJSON(t, base+"/api/v1/health"); code != 200 || body["status"] != "ok" {
		t.Errorf("health = %d %v, want 200 ok", code, body)
	}
	if code, body := getJSON(t, base+"/readyz"); code != 200 {
		t.Errorf("readyz = %d %v, want 200", code, body)
	}
	for _, f := range []string{"hub.db", "secret_key"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("%s not created in the data folder: %v", f, err)
		}
	}
	// The first start created an administrator with a generated password,
	// printed once; it logs in.
	out := m.Stdout.(*lockedBuffer).String()
	_, after, ok := strings.Cut(out, `First administrator created: user "admin", password `)
	if !ok {
		t.Fatalf("stdout does not show the generated admin credentials:\n%s", out)
	}
	password := strings.Fields(after)[0]
	resp, err := http.PostForm(base+"/api/v1/auth/token", url.Values{"username": {"admin"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("login with the printed password: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	// A second start on the same data does not create or print anything.
	m2, stop2 := startMain(t, "all", map[string]string{"HUB_DATA_DIR": dataDir})
	if out := m2.Stdout.(*lockedBuffer).String(); strings.Contains(out, "First administrator") {
		t.Errorf("second start printed credentials again:\n%s", out)
	}
	if err := stop2(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after stop")
	}
}

func TestMigrateThenServeOnPostgresWithRedis(t *testing.T) {
	db := hubtest.DatabaseConfig(t, config.Postgres)
	_, _ = hubtest.Redis(t) // skips or fails like every service test
	redisURL := os.Getenv(hubtest.EnvRedisURL)
	vars := map[string]string{"DATABASE_URL": db.DSN, "REDIS_URL": redisURL, "SECRET_KEY": strings.Repeat("k", 40)}

	_, stop := startMain(t, "migrate", vars)
	if err := stop(); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	m, stop := startMain(t, "serve", vars)
	code, body := getJSON(t, "http://"+m.Addr.String()+"/readyz")
	if code != 200 {
		t.Fatalf("readyz = %d %v, want 200", code, body)
	}
	checks, _ := body["checks"].(map[string]any)
	if checks["database"] != "ok" || checks["redis"] != "ok" {
		t.Errorf("checks = %v, want database and redis ok", checks)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestReadinessReportsUnreachableRedis(t *testing.T) {
	// Nothing listens on port 1.
	m, _ := startMain(t, "serve", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	code, body := getJSON(t, "http://"+m.Addr.String()+"/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz = %d, want 503", code)
	}
	if d, _ := body["detail"].(string); !strings.Contains(d, "redis") {
		t.Errorf("detail = %q, want it to name redis", d)
	}
	if code, _ := getJSON(t, "http://"+m.Addr.String()+"/api/v1/health"); code != 200 {
		t.Errorf("health = %d, want 200 even with Redis down", code)
	}
}

func TestCleanupRoleStopsCleanly(t *testing.T) {
	m, stop := startMain(t, "cleanup", nil)
	if m.Addr != nil {
		t.Errorf("cleanup role opened an HTTP listener at %s", m.Addr)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestWorkerRoleNeedsRedis(t *testing.T) {
	cfg, err := config.Load(map[string]string{"HUB_DATA_DIR": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler), Version: "test", Stdout: &lockedBuffer{}}
	err = m.Run(context.Background(), "worker")
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("worker without Redis: %v, want an error naming REDIS_URL", err)
	}
}

func TestWorkerRoleWithRedisStopsCleanly(t *testing.T) {
	db := hubtest.DatabaseConfig(t, config.Postgres)
	_, _ = hubtest.Redis(t)
	vars := map[string]string{"DATABASE_URL": db.DSN, "REDIS_URL": os.Getenv(hubtest.EnvRedisURL)}
	_, stop := startMain(t, "migrate", vars)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	m, stop := startMain(t, "worker", vars)
	if m.Addr != nil {
		t.Errorf("worker role opened an HTTP listener at %s", m.Addr)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
