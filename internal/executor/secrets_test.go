package executor_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/registry"
	"automationhub/internal/robotenv"
	"automationhub/internal/runs"
)

// leakyRobot prints the secret API_TOKEN in every way a careless robot
// might: plain, URL-encoded and base64, on stdout and stderr, split across
// writes, straddling the cut of a very long line, in an output file's name,
// and in its exit message. It also checks that it got the value and the
// layering: version env_vars < configuration < runtime env.
const leakyRobot = `import base64, os, sys, time, urllib.parse
s = os.environ["API_TOKEN"]
print("got token:", s == EXPECTED)
print("region=" + os.environ.get("REGION", "") + " mode=" + os.environ.get("MODE", "") + " tier=" + os.environ.get("TIER", ""))
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
    f.write("contents may hold anything\n")
sys.exit("failing with " + s)
`

func TestSecretsReachTheRobotAndNothingElse(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	const secret = "S3cr3t/Value+=ä ok"
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), strings.ReplaceAll(url.QueryEscape(secret), "+", "%20"),
		base64.StdEncoding.EncodeToString([]byte(secret)), strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(secret)), "=")}
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			workerLog := &lockedWriter{w: &bytes.Buffer{}}
			e := setup(t, c.dialect, c.bus, opts{log: slog.New(slog.NewJSONHandler(workerLog, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			ctx := context.Background()
			robot := e.robot(t, "leaky", map[string]string{
				"main.py":    "EXPECTED = " + pyString(secret) + "\n" + leakyRobot,
				"robot.yaml": "required_env: [API_TOKEN]\nruntime_env: [MODE, TIER, API_TOKEN]\n",
			}, registry.PublishInput{EnvVarsJSON: `{"REGION":"version","MODE":"version","TIER":"version"}`})
			if _, err := e.runs.Execute(ctx, e.admin, robot, runs.ExecuteInput{}); hub.ErrorKind(err) != hub.EConflict {
				t.Fatalf("execute before configuring: %v, want 409", err)
			}
			if _, err := e.config.Put(ctx, e.admin, robot, "PROD", []robotenv.Item{
				{Key: "API_TOKEN", Value: ptrTo(secret), IsSecret: true},
				{Key: "REGION", Value: ptrTo("config")},
				{Key: "MODE", Value: ptrTo("config")},
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.runs.Execute(ctx, e.admin, robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"API_TOKEN": "mine"}}); hub.ErrorKind(err) != hub.EInvalid {
				t.Fatalf("overriding the secret: %v, want 400", err)
			}
			r := e.execute(t, robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"MODE": "runtime"}})
			r = e.wait(t, r.ID, time.Minute)
			lines := e.logs(t, r.ID)
			all := strings.Join(messages(lines), "\n")
			if r.Status != hub.RunFailed || r.ExitCode == nil || *r.ExitCode != 1 {
				t.Fatalf("run %s exit %v, want FAILED with 1; log:\n%s", r.Status, r.ExitCode, all)
			}
			for _, want := range []string{"INFO got token: True", "INFO region=config mode=runtime tier=version",
				"INFO plain ***", "INFO url ***", "INFO b64 ***", "INFO b64url ***", "ERROR stderr ***", "INFO split *** end",
				"ERROR failing with ***", "Robot configuration (PROD): API_TOKEN (secret), MODE, REGION"} {
				if !strings.Contains(all, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			if !strings.Contains(all, "***tail") {
				t.Error("the secret straddling the cut of the long line is not masked")
			}
			var seenFile bool
			for _, a := range r.Artifacts {
				if strings.HasPrefix(a.Name, "report-") {
					seenFile = a.Name == "report-***.txt"
				}
				if a.Name == "run.log" {
					f, err := e.blobs.Open(a.Path)
					if err != nil {
						t.Fatal(err)
					}
					var b bytes.Buffer
					b.ReadFrom(f)
					f.Close()
					all += "\n" + b.String()
				}
				all += "\n" + a.Name + "\n" + a.Path
			}
			if !seenFile {
				t.Errorf("output file not kept under a masked name: %+v", r.Artifacts)
			}
			all += "\n" + deref(r.ErrorMessage) + "\n" + workerLog.String()
			for _, f := range forms {
				if strings.Contains(all, f) {
					t.Errorf("the secret leaked in the form %q", f)
				}
			}
			// Nothing of the configuration is kept with the run.
			stored, err := e.db.RunByID(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := stored.RuntimeEnv["API_TOKEN"]; ok || len(stored.RuntimeEnv) != 1 {
				t.Errorf("runtime_env stored = %v, want only MODE", stored.RuntimeEnv)
			}
		})
	}
}

func pyString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func ptrTo[T any](v T) *T { return &v }

// lockedWriter is a buffer the worker's log writes to while the test reads it.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
