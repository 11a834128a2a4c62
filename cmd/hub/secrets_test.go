package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/keyring"
)

// tokenCheckRobot says whether it got the expected API_TOKEN (never the
// value itself).
const tokenCheckRobot = "#!/bin/sh\nif [ \"$API_TOKEN\" = \"$EXPECTED\" ]; then echo token-ok; else echo token-bad; fi\n"

// TestEncryptionKeyAtStart: the embedded default generates its key file once;
// PostgreSQL roles refuse to start without ENCRYPTION_KEY; a wrong key stops
// the hub at start with the setting to fix; ENCRYPTION_KEYS_OLD keeps old
// values readable and `hub secrets rotate` re-encrypts them, after which the
// old key can go. Keys come from a .env file, as the previous backend's did.
func TestEncryptionKeyAtStart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell robots")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "HUB_ADDR=127.0.0.1:0", "DEFAULT_ADMIN_PASSWORD=first-admin-password"}
			keyA := keyring.GenerateKey()
			if dialect == config.Postgres {
				env = append(env, "DATABASE_URL="+hubtest.DatabaseConfig(t, config.Postgres).DSN)
				// No key: serve, worker and all refuse to start, naming the setting.
				for _, args := range [][]string{{"serve"}, {"worker"}, {}} {
					res := runHubCommand(t, dir, "", args, append(env, "REDIS_URL="+os.Getenv(hubtest.EnvRedisURL))...)
					res.want(t, "hub "+strings.Join(args, " ")+" without ENCRYPTION_KEY", exitFailed, "ENCRYPTION_KEY is not set")
				}
				writeDotenvFile(t, filepath.Join(dir, ".env"), "ENCRYPTION_KEY="+keyA)
			}
			res := runHubCommand(t, dir, "", []string{"serve"}, append(env, "ENCRYPTION_KEY=not-a-key")...)
			res.want(t, "malformed key", exitUsage, "invalid ENCRYPTION_KEY: must be 32 bytes")

			start := func(extra ...string) *hubProcess {
				t.Helper()
				return startHubProcess(t, dir, append(append([]string{}, env...), extra...)...)
			}
			h := start()
			if dialect == config.SQLite {
				fi, err := os.Stat(filepath.Join(dir, "data", "encryption_key"))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("generated key file: %v %v", fi, err)
				}
				if n := strings.Count(h.stderr.String(), "generated an ENCRYPTION_KEY"); n != 1 {
					t.Errorf("the generated key was reported %d times", n)
				}
				b, _ := os.ReadFile(filepath.Join(dir, "data", "encryption_key"))
				keyA = strings.TrimSpace(string(b))
			}
			c := login(t, h.URL+"/api/v1", "admin", "first-admin-password")
			robot := c.publishRobot("key-check", "EXE", "run.sh", map[string]string{"run.sh": tokenCheckRobot,
				"robot.yaml": "required_env: [API_TOKEN]\n"})
			if code := c.call("PUT", "/robots/"+robot+"/env?env=PROD", "application/json",
				strings.NewReader(`{"items":[{"key":"API_TOKEN","value":"v@lue-1","is_secret":true},{"key":"EXPECTED","value":"v@lue-1"}]}`), nil); code != 200 {
				t.Fatalf("PUT env: %d", code)
			}
			checkRun := func(label string) {
				t.Helper()
				var run runView
				if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
					t.Fatalf("%s: execute %d", label, code)
				}
				run = c.waitRun(run.RunID, time.Minute)
				if msgs := c.logMessages(run.RunID); run.Status != "SUCCESS" || !containsLine(msgs, "token-ok") {
					t.Errorf("%s: run %s, log:\n%s", label, run.Status, strings.Join(msgs, "\n"))
				}
			}
			checkRun("first key")
			h.stop(t)
			if dialect == config.SQLite {
				h = start()
				if strings.Contains(h.stderr.String(), "generated an ENCRYPTION_KEY") {
					t.Error("the key was generated again")
				}
				h.stop(t)
				// The generated key goes away (a lost data folder file).
				if err := os.Rename(filepath.Join(dir, "data", "encryption_key"), filepath.Join(dir, "old_key")); err != nil {
					t.Fatal(err)
				}
			}

			// Another key: the hub refuses to start, naming the settings.
			keyB := keyring.GenerateKey()
			writeDotenvFile(t, filepath.Join(dir, ".env"), "ENCRYPTION_KEY="+keyB)
			res = runHubCommand(t, dir, "", nil, env...)
			res.want(t, "wrong key", exitFailed, "ENCRYPTION_KEYS_OLD")
			if strings.Contains(res.stderr, "v@lue-1") {
				t.Error("the start-up error shows the secret")
			}
			// With the old key kept readable it starts and runs.
			writeDotenvFile(t, filepath.Join(dir, ".env"), "ENCRYPTION_KEY="+keyB+"\nENCRYPTION_KEYS_OLD="+keyA)
			st := runHubCommand(t, dir, "", []string{"secrets", "status"}, env...)
			st.want(t, "secrets status", exitOK)
			if !strings.Contains(st.stdout, "2 values  readable (ENCRYPTION_KEYS_OLD)") {
				t.Errorf("status before rotation:\n%s", st.stdout)
			}
			h = start()
			c = login(t, h.URL+"/api/v1", "admin", "first-admin-password")
			checkRun("old key readable")
			h.stop(t)
			rot := runHubCommand(t, dir, "", []string{"secrets", "rotate"}, env...)
			rot.want(t, "secrets rotate", exitOK)
			if !strings.Contains(rot.stdout, "re-encrypted 2 of 2 robot configuration values") {
				t.Errorf("rotate said:\n%s", rot.stdout)
			}
			// After the rotation the old key can go.
			writeDotenvFile(t, filepath.Join(dir, ".env"), "ENCRYPTION_KEY="+keyB)
			st = runHubCommand(t, dir, "", []string{"secrets", "status"}, env...)
			if !strings.Contains(st.stdout, "2 values  current") {
				t.Errorf("status after rotation:\n%s%s", st.stdout, st.stderr)
			}
			h = start()
			c = login(t, h.URL+"/api/v1", "admin", "first-admin-password")
			checkRun("after rotation")
			h.stop(t)
			if keygen := runHubCommand(t, dir, "", []string{"secrets", "keygen"}); keygen.code != 0 || len(strings.TrimSpace(keygen.stdout)) != 44 {
				t.Errorf("keygen: %+v", keygen)
			}
		})
	}
}

func writeDotenvFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
