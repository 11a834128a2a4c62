package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// leakSecret has characters that make each encoded form different.
const leakSecret = "S3cr3t/Value+=ä ok&x"

// leakingRobot prints its secret in every way a careless robot might:
// plain, URL-encoded and base64, on stdout and stderr, split across writes,
// straddling the cut of a very long line, in an output file's name and in
// its exit message. It says whether it got the right value by comparing
// hashes (the expected hash is a plain configuration value).
const leakingRobot = `import base64, hashlib, os, sys, time, urllib.parse
s = os.environ["API_TOKEN"]
print("got token:", hashlib.sha256(s.encode()).hexdigest() == os.environ["EXPECTED_SHA256"])
print("plain " + s)
print("url " + urllib.parse.quote(s, safe=""))
print("url+ " + urllib.parse.quote_plus(s))
print("b64 " + base64.b64encode(s.encode()).decode())
print("b64url " + base64.urlsafe_b64encode(s.encode()).decode().rstrip("="))
print("stderr " + s, file=sys.stderr)
sys.stdout.write("split " + s[:5]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(s[5:] + " end\n"); sys.stdout.flush()
print("x" * (65536 - 7) + s + "tail")
with open(os.path.join(os.environ["HUB_OUTPUT_DIR"], "report-" + urllib.parse.quote(s, safe="") + ".txt"), "w") as f:
    f.write("the report\n")
sys.exit("failing with " + s)
`

// secretForms are the forms of leakSecret nothing may show.
func secretForms() []string {
	strict := func(s string, lower bool) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
				b.WriteByte(c)
			} else if lower {
				fmt.Fprintf(&b, "%%%02x", c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	}
	raw := []byte(leakSecret)
	return []string{leakSecret, url.QueryEscape(leakSecret), url.PathEscape(leakSecret), strict(leakSecret, false), strict(leakSecret, true),
		base64.StdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw)}
}

// evidence collects everything the hub showed or wrote, by where it came from.
type evidence map[string]string

func (e evidence) add(where, what string) { e[where] += what + "\n" }

// TestSecretNeverLeaks is the leak test: a robot prints its secret in every
// form and place it can, and none of those forms appears in any API
// response, stored log row, run record, artifact row or file, audit event,
// WebSocket frame, run.log, metric, UI page, the command-line client's
// output or the hub's own log (at DEBUG), on either database.
func TestSecretNeverLeaks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Python robot with a Unix path")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "HUB_ADDR=127.0.0.1:0", "LOG_LEVEL=DEBUG",
				"DEFAULT_ADMIN_PASSWORD=first-admin-password"}
			db := config.Database{Dialect: config.SQLite, DSN: filepath.Join(dir, "data", "hub.db")}
			artifacts := filepath.Join(dir, "data", "artifacts")
			if dialect == config.Postgres {
				db = hubtest.DatabaseConfig(t, config.Postgres)
				client, prefix := hubtest.Redis(t)
				artifacts = filepath.Join(t.TempDir(), "artifacts")
				env = append(env, "DATABASE_URL="+db.DSN, "ENCRYPTION_KEY="+testEncryptionKey, "ARTIFACTS_ROOT="+artifacts,
					"REDIS_URL=redis://"+client.Options().Addr+"/0", "REDIS_QUEUE_NAME="+prefix+"q", "REDIS_PUBSUB_PREFIX="+prefix+"c")
			}
			h := startHubProcess(t, dir, env...)
			api := h.URL + "/api/v1"
			c := login(t, api, "admin", "first-admin-password")
			ev := evidence{}
			// call records every answer of the API.
			call := func(method, path, body string) string {
				t.Helper()
				req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.token)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				ev.add("API "+method+" "+path, string(b))
				if resp.StatusCode/100 != 2 {
					t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
				}
				return string(b)
			}

			robot := c.publishRobot("leaky", "PYTHON", "main.py", map[string]string{"main.py": leakingRobot,
				"robot.yaml": "required_env: [API_TOKEN]\nruntime_env: [MODE]\n"})
			sum := sha256.Sum256([]byte(leakSecret))
			call("PUT", "/robots/"+robot+"/env?env=PROD", fmt.Sprintf(`{"items":[{"key":"API_TOKEN","value":%q,"is_secret":true},{"key":"EXPECTED_SHA256","value":%q}]}`,
				leakSecret, hex.EncodeToString(sum[:])))
			delete(ev, "API PUT /robots/"+robot+"/env?env=PROD") // its request held the secret; its answer is checked below
			call("PUT", "/robots/"+robot+"/env?env=HML", `{"items":[{"key":"API_TOKEN","value":"other","is_secret":true}]}`)

			// Run 1 through the API, its live log read from the first line.
			var run runView
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{"runtime_env":{"MODE":"leak-test"}}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			ev.add("WebSocket frames", readLiveLog(t, api, c.token, run.RunID))
			run = c.waitRun(run.RunID, 2*time.Minute)
			msgs := c.logMessages(run.RunID)
			if run.Status != "FAILED" || !containsLine(msgs, "got token: True") || !containsLine(msgs, "failing with ***") {
				t.Errorf("run %s: %s\n%s", run.RunID, run.Status, strings.Join(msgs, "\n"))
			}

			// Run 2 through the command-line client, following its log.
			cli := runHubCommand(t, dir, "", []string{"run", "leaky", "--follow", "--server", h.URL, "--token", c.token})
			if cli.code != 1 || !strings.Contains(cli.stdout, "got token: True") || !strings.Contains(cli.stderr, "failing with ***") {
				t.Errorf("hub run --follow: exit %d\nstdout:\n%s\nstderr:\n%s", cli.code, cli.stdout, cli.stderr)
			}
			ev.add("hub run output", cli.stdout+cli.stderr)

			// Every API answer about it.
			for _, p := range []string{"/runs/" + run.RunID, "/runs?robot_id=" + robot, "/runs", "/runs/" + run.RunID + "/logs?limit=5000",
				"/robots/" + robot, "/robots", "/robots/" + robot + "/versions", "/robots/" + robot + "/env?env=PROD", "/robots/" + robot + "/env?env=HML",
				"/audit-events?limit=500", "/ops/status", "/workers", "/auth/me", "/tokens?all=true"} {
				call("GET", p, "")
			}
			var full struct {
				Artifacts []struct {
					ID   string `json:"id"`
					Name string `json:"artifact_name"`
				} `json:"artifacts"`
			}
			c.call("GET", "/runs/"+run.RunID, "", nil, &full)
			names := []string{}
			for _, a := range full.Artifacts {
				names = append(names, a.Name)
				ev.add("artifact download "+a.Name, c.download(run.RunID, a.ID))
			}
			if !containsLine(names, "report-***.txt") || !containsLine(names, "run.log") {
				t.Errorf("artifacts: %v", names)
			}
			for _, p := range []string{"/metrics", "/readyz"} {
				resp, err := http.Get(h.URL + p)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ev.add(p, string(b))
			}
			// The web UI's pages of the run and the robot.
			ui := uiLogin(t, h.URL, "admin", "first-admin-password")
			for _, p := range []string{"/runs/" + run.RunID, "/runs/" + run.RunID + "/logs", "/robots/" + robot, "/robots/" + robot + "/config?env=PROD", "/runs"} {
				_, page := ui.get(p)
				ev.add("UI "+p, page)
			}

			// What the database holds.
			store, err := sqlstore.Open(context.Background(), db, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			for _, q := range []string{`SELECT message FROM run_logs`, `SELECT COALESCE(error_message, '') FROM runs`,
				`SELECT runtime_env FROM runs`, `SELECT COALESCE(parameters_json, 'null') FROM runs`, `SELECT artifact_name || ' ' || file_path FROM artifacts`,
				`SELECT metadata_json FROM audit_events`, `SELECT value_encrypted FROM robot_env_vars`, `SELECT env_vars FROM robot_versions`} {
				rows, err := store.SQL().QueryContext(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var s string
					rows.Scan(&s)
					ev.add("database: "+q, s)
				}
				rows.Close()
			}
			// The files: the artifact store and the worker's folder.
			for _, root := range []string{artifacts, filepath.Join(dir, "data", "worker")} {
				filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return nil
					}
					ev.add("file names under "+root, p)
					if d.Type().IsRegular() && !strings.HasSuffix(p, ".zip") {
						b, _ := os.ReadFile(p)
						ev.add("file "+p, string(b))
					}
					return nil
				})
			}
			h.stop(t)
			ev.add("hub stdout and stderr", h.stdout.String()+h.stderr.String())

			if !strings.Contains(ev["WebSocket frames"], `plain ***`) || !strings.Contains(ev["hub stdout and stderr"], `"level":"DEBUG"`) {
				t.Errorf("the evidence is incomplete: frames %d bytes, log at DEBUG %v", len(ev["WebSocket frames"]), strings.Contains(ev["hub stdout and stderr"], `"level":"DEBUG"`))
			}
			for where, what := range ev {
				for _, f := range secretForms() {
					if i := strings.Index(what, f); i >= 0 {
						t.Errorf("the secret leaked as %q in %s: …%s…", f, where, what[max(0, i-80):min(len(what), i+len(f)+40)])
					}
				}
			}
		})
	}
}

// readLiveLog reads a run's live log WebSocket from its first line until
// the hub closes it, and returns the frames.
func readLiveLog(t *testing.T, api, token, runID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := "ws" + strings.TrimPrefix(api, "http") + "/ws/runs/" + runID + "/logs?after_seq=0"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"bearer", token}})
	if err != nil {
		t.Fatalf("dial the live log: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	var b strings.Builder
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("live log ended with %v", err)
			}
			return b.String()
		}
		b.Write(data)
		b.WriteByte('\n')
	}
}
