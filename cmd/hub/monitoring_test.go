package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// fleet is a distributed hub made of real binaries, each in a folder of its
// own with the default relative ./data: hub serve, hub worker and
// optionally hub cleanup, sharing a database, Redis and an artifact folder.
type fleet struct {
	api, worker, cleanup        *hubProcess
	workerProbes, cleanupProbes string // http://host:port of HUB_WORKER_ADDR
	c                           *hubClient
}

// startFleet starts the fleet on a fresh database of the dialect (SQLite: one
// file all processes share, as on one host). It skips, or fails in CI, when
// Redis (or PostgreSQL) is not configured.
func startFleet(t *testing.T, dialect string, withCleanup bool) *fleet {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with SIGTERM")
	}
	db := hubtest.DatabaseConfig(t, dialect)
	_, prefix := hubtest.Redis(t)
	dsn := db.DSN
	if dialect == config.SQLite {
		dsn = "sqlite:" + db.DSN
	}
	shared := []string{"DATABASE_URL=" + dsn, "ENCRYPTION_KEY=" + testEncryptionKey, "REDIS_URL=" + os.Getenv(hubtest.EnvRedisURL),
		"REDIS_QUEUE_NAME=" + prefix + "queue", "REDIS_PUBSUB_PREFIX=" + prefix + "runs",
		"ARTIFACTS_ROOT=" + filepath.Join(t.TempDir(), "artifacts"), "SECRET_KEY=" + strings.Repeat("k", 40),
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}
	f := &fleet{}
	f.api = runHubProcess(t, t.TempDir(), []string{"serve"}, append(shared, "HUB_ADDR=127.0.0.1:0")...)
	f.api.URL = f.api.waitFor(t, "running at ")
	f.worker = runHubProcess(t, t.TempDir(), []string{"worker"}, append(shared, "HUB_WORKER_ADDR=127.0.0.1:0")...)
	f.workerProbes = f.worker.waitFor(t, "Health and metrics at ")
	if withCleanup {
		f.cleanup = runHubProcess(t, t.TempDir(), []string{"cleanup"}, append(shared, "HUB_WORKER_ADDR=127.0.0.1:0")...)
		f.cleanupProbes = f.cleanup.waitFor(t, "Health and metrics at ")
	}
	f.c = login(t, f.api.URL+"/api/v1", "admin", "admin-password-1")
	return f
}

// runRobot runs a shell robot to SUCCESS.
func (f *fleet) runRobot(t *testing.T, name, script string) {
	t.Helper()
	robot := f.c.shellRobot(name, script)
	var run runView
	if code := f.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: got %d, want 202", code)
	}
	if run = f.c.waitRun(run.RunID, 60*time.Second); run.Status != "SUCCESS" {
		t.Fatalf("run: got %s (%v), want SUCCESS; log:\n%s", run.Status, deref(run.ErrorMessage), strings.Join(f.c.logMessages(run.RunID), "\n"))
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads a /metrics page with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200", url, code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	return families
}

// seriesNames are the names a query can use for the families: a histogram
// family X is queried as X_bucket, X_sum and X_count.
func seriesNames(families map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names
}

// labelsOf returns the label sets of a family's series as "k=v,…" strings.
func labelsOf(f *dto.MetricFamily) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var l []string
		for _, p := range m.GetLabel() {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		out = append(out, strings.Join(l, ","))
	}
	return out
}

// value returns the value of the series of f whose labels include every
// name=value pair given, and whether there is one.
func value(f *dto.MetricFamily, pairs ...string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]bool{}
		for _, p := range m.GetLabel() {
			have[p.GetName()+"="+p.GetValue()] = true
		}
		ok := true
		for _, p := range pairs {
			ok = ok && have[p]
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestWorkerHealthAndMetricsEndpoints runs a real `hub worker` with
// HUB_WORKER_ADDR beside a real `hub serve`, on SQLite (one host) and on
// PostgreSQL, both with Redis: the worker answers /healthz, /readyz (database
// and Redis checked) and /metrics (build, Go runtime, its slots, and the runs
// it finished); while it drains at SIGTERM it says it is not ready but still
// serves metrics, and it closes the endpoint when it has stopped.
func TestWorkerHealthAndMetricsEndpoints(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{config.SQLite, config.Postgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := startFleet(t, dialect, false)
			base := f.workerProbes

			if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
				t.Errorf("/healthz: got %d %s, want 200 ok", code, body)
			}
			code, body := get(t, base+"/readyz")
			var ready struct {
				Status string
				Checks map[string]string
			}
			_ = json.Unmarshal([]byte(body), &ready)
			if code != 200 || ready.Status != "ready" || ready.Checks["database"] != "ok" || ready.Checks["redis"] != "ok" || ready.Checks["worker"] != "ok" {
				t.Errorf("/readyz: got %d %s, want 200 ready with database, redis and worker ok", code, body)
			}

			m := scrape(t, base+"/metrics")
			build := labelsOf(m["hub_build_info"])
			if len(build) != 1 || !strings.Contains(build[0], "build_date=") || !strings.Contains(build[0], "commit=") ||
				!strings.Contains(build[0], "goversion="+runtime.Version()) || !strings.Contains(build[0], "version=dev") {
				t.Errorf("hub_build_info: got %v, want one series with version, commit, build_date and goversion", build)
			}
			for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "hub_worker_slots", "hub_worker_busy_slots", "hub_disk_free_bytes"} {
				if m[name] == nil {
					t.Errorf("worker /metrics lacks %s", name)
				}
			}
			if v, ok := value(m["hub_disk_size_bytes"], "folder=data"); !ok || v <= 0 {
				t.Errorf(`hub_disk_size_bytes{folder="data"}: got %v %v, want > 0`, v, ok)
			}
			if m["hub_queue_depth"] != nil {
				t.Error("worker /metrics has hub_queue_depth: the database figures belong to the API's /metrics only")
			}

			f.runRobot(t, "probe-bot", "#!/bin/sh\necho hello\n")
			m = scrape(t, base+"/metrics")
			if v, _ := value(m["hub_runs_finished_total"], "status=SUCCESS"); v != 1 {
				t.Errorf(`hub_runs_finished_total{status="SUCCESS"}: got %v, want 1`, v)
			}
			if v, _ := value(m["hub_run_duration_seconds"]); v != 1 {
				t.Errorf("hub_run_duration_seconds_count: got %v, want 1", v)
			}

			// Stop while a robot runs: not ready at once, metrics still served
			// until the robot has finished and the worker has stopped.
			robot := f.c.shellRobot("slow-bot", "#!/bin/sh\necho started\nsleep 3\necho done\n")
			var run runView
			f.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			deadline := time.Now().Add(30 * time.Second)
			for !containsLine(f.c.logMessages(run.RunID), "started") {
				if time.Now().After(deadline) {
					t.Fatal("the slow robot never started")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if v, _ := value(scrape(t, base+"/metrics")["hub_worker_busy_slots"]); v != 1 {
				t.Errorf("hub_worker_busy_slots while a robot runs: got %v, want 1", v)
			}
			if err := f.worker.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(10 * time.Second)
			for {
				code, body := get(t, base+"/readyz")
				if code == http.StatusServiceUnavailable {
					if !strings.Contains(body, "worker is not ready: shutting down") {
						t.Errorf("/readyz while stopping: got %s, want it to say the worker is shutting down", body)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz still %d %s after SIGTERM", code, body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if code, _ := get(t, base+"/metrics"); code != 200 {
				t.Errorf("/metrics while stopping: got %d, want 200", code)
			}
			select {
			case err := <-f.worker.done:
				if err != nil {
					t.Errorf("worker exit: %v; stderr:\n%s", err, f.worker.stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("worker did not stop within 60 s")
			}
			if run = f.c.waitRun(run.RunID, 10*time.Second); run.Status != "SUCCESS" {
				t.Errorf("the robot running at SIGTERM: got %s, want SUCCESS (it had time to finish)", run.Status)
			}
			if _, err := http.Get(base + "/healthz"); err == nil {
				t.Error("the endpoint still answers after the worker stopped")
			}
		})
	}
}

// TestWorkerReadinessFollowsRedis: a worker whose Redis does not answer is
// alive but not ready, and says why.
func TestWorkerReadinessFollowsRedis(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("uses a Unix robot host")
	}
	// Nothing listens on port 1.
	p := runHubProcess(t, t.TempDir(), []string{"worker"}, "REDIS_URL=redis://127.0.0.1:1/0", "HUB_WORKER_ADDR=127.0.0.1:0")
	base := p.waitFor(t, "Health and metrics at ")
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with Redis down: got %d, want 200", code)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis is not ready") {
		t.Errorf("/readyz with Redis down: got %d %s, want 503 naming redis", code, body)
	}
	p.stop(t)
}

// TestWorkerAddrInUse: a worker that cannot bind HUB_WORKER_ADDR does not
// start, and says which setting is wrong.
func TestWorkerAddrInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := runHubProcess(t, t.TempDir(), []string{"cleanup"}, "HUB_WORKER_ADDR="+ln.Addr().String())
	select {
	case err := <-p.done:
		if err == nil || !strings.Contains(p.stderr.String(), "HUB_WORKER_ADDR") {
			t.Errorf("cleanup with a busy HUB_WORKER_ADDR: exit %v, stderr:\n%s\nwant a failure naming HUB_WORKER_ADDR", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cleanup kept running with a busy HUB_WORKER_ADDR")
	}
}

// Prometheus's own packages read the rules and queries below; they are
// test-only and never linked into the hub.

const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardFile = "../../deploy/grafana/automation-hub.json"
)

// promQL is the PromQL parser the Prometheus server uses.
var promQL = parser.NewParser(parser.Options{})

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promQL.ParseExpr(expr)
	if err != nil {
		t.Errorf("%q is not valid PromQL: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%q selects series without naming a metric", expr)
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

// alertRules parses deploy/prometheus/alerts.yml with Prometheus's rule
// file parser, which also checks every expression, duration and template.
func alertRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promQL, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yml: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	var rules []rulefmt.Rule
	for _, g := range groups.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// dashboardQueries returns the PromQL of every panel of the Grafana
// dashboard, with Grafana's interval variables replaced by durations.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string
		RefID      string `json:"refId"`
		Datasource struct{ UID string }
	}
	type panel struct {
		ID         int
		Type       string
		Title      string
		Datasource struct{ UID string }
		Targets    []target
		Panels     []panel
	}
	var dash struct {
		UID    string
		Title  string
		Panels []panel
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("automation-hub.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("automation-hub.json: uid %q, title %q; want both", dash.UID, dash.Title)
	}
	grafanaVars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	queries := map[string]string{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("automation-hub.json: panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("panel %q: datasource %q and %d queries; want ${datasource} and at least one", p.Title, p.Datasource.UID, len(p.Targets))
			}
			for _, tg := range p.Targets {
				queries[p.Title+" "+tg.RefID] = grafanaVars.Replace(tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	return queries
}

// TestAlertRulesAndDashboardParse: every alert rule passes Prometheus's rule
// parser and has what an on-call person needs; every dashboard query parses.
func TestAlertRulesAndDashboardParse(t *testing.T) {
	t.Parallel()
	rules := alertRules(t)
	if len(rules) < 10 {
		t.Errorf("alerts.yml has %d rules", len(rules))
	}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("rule %q is not an alert", r.Expr)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.For == 0 {
			t.Errorf("%s: needs a summary, a description and a for: duration", r.Alert)
		}
		metricNames(t, r.Expr)
	}
	queries := dashboardQueries(t)
	if len(queries) < 15 {
		t.Errorf("the dashboard has %d queries", len(queries))
	}
	for _, q := range queries {
		metricNames(t, q)
	}
}

// TestMonitoringMetricsExist runs a fleet as docs/deploy.md sets it up —
// hub serve, hub worker and hub cleanup, each a real process, on PostgreSQL
// and Redis — runs a robot, scrapes the three /metrics endpoints as the
// documented scrape jobs would, and finds there every metric that an alert
// rule or a dashboard query uses (`up` is Prometheus's own).
func TestMonitoringMetricsExist(t *testing.T) {
	t.Parallel()
	f := startFleet(t, config.Postgres, true)
	f.runRobot(t, "metrics-bot", "#!/bin/sh\necho measured\n")

	// The web UI's footer names the build `hub version` reports.
	out, err := exec.Command(hubBinary(t), "version").Output()
	version, _, _ := strings.Cut(strings.TrimPrefix(string(out), "hub "), " ")
	if err != nil || version == "" {
		t.Fatalf("hub version: %v %q", err, out)
	}
	if _, page := get(t, f.api.URL+"/login"); !strings.Contains(page, `<footer class="foot">Automation Hub `+version) {
		t.Errorf("the login page's footer does not name version %s", version)
	}

	exported := map[string]bool{"up": true}
	for _, ep := range []struct{ job, url string }{
		{"automation-hub-api", f.api.URL}, {"automation-hub-worker", f.workerProbes}, {"automation-hub-cleanup", f.cleanupProbes},
	} {
		m := scrape(t, ep.url+"/metrics")
		if len(labelsOf(m["hub_build_info"])) != 1 {
			t.Errorf("%s: hub_build_info: got %v, want one series", ep.job, labelsOf(m["hub_build_info"]))
		}
		for n := range seriesNames(m) {
			exported[n] = true
		}
	}
	used := map[string][]string{}
	for _, r := range alertRules(t) {
		for _, n := range metricNames(t, r.Expr) {
			used[n] = append(used[n], "alert "+r.Alert)
		}
	}
	for panel, q := range dashboardQueries(t) {
		for _, n := range metricNames(t, q) {
			used[n] = append(used[n], "panel "+panel)
		}
	}
	for n, where := range used {
		if !exported[n] {
			t.Errorf("%s is used by %v but no hub endpoint exports it", n, where)
		}
	}
	t.Logf("%d metric names used by the alerts and the dashboard; %d exported by the API, worker and cleanup", len(used), len(exported)-1)
}
