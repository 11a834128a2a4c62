package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/sqlstore"
)

// cliResult is what one run of a hub command gave.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runHubCommand runs the built binary with args in dir, standard input
// stdin and the environment of runHubProcess, and waits for it to exit.
func runHubCommand(t testing.TB, dir, stdin string, args []string, env ...string) cliResult {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("hub %v: %v", args, err)
	}
	return res
}

// want fails the test unless the command exited with code and its stderr
// contains every fragment.
func (r cliResult) want(t testing.TB, label string, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", label, r.code, code, r.stdout, r.stderr)
		return
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("%s: stderr lacks %q:\n%s", label, s, r.stderr)
		}
	}
}

// signInStatus returns the status of a password sign-in.
func signInStatus(t testing.TB, base, user, password string) int {
	t.Helper()
	resp, err := http.PostForm(base+"/auth/token", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// adminHub is a running hub of one dialect for the administration command
// tests, with the folder and environment its commands run with.
type adminHub struct {
	proc     *hubProcess
	dir      string
	env      []string
	api      string // http://…/api/v1
	password string // the first administrator's
}

// startAdminHub starts the binary on SQLite as the quick start does
// (relative ./data) or as `hub serve` on PostgreSQL.
func startAdminHub(t *testing.T, dialect string) *adminHub {
	t.Helper()
	h := &adminHub{dir: t.TempDir(), env: []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}}
	var args []string
	if dialect == config.Postgres {
		db := hubtest.DatabaseConfig(t, config.Postgres)
		h.env = append(h.env, "DATABASE_URL="+db.DSN, "SECRET_KEY="+strings.Repeat("s", 40),
			"ARTIFACTS_ROOT="+filepath.Join(t.TempDir(), "artifacts"), "DEFAULT_ADMIN_PASSWORD=first-admin-password")
		args = []string{"serve"}
	}
	h.proc = runHubProcess(t, h.dir, args, append(h.env, "HUB_ADDR=127.0.0.1:0")...)
	h.api = h.proc.waitFor(t, "running at ") + "/api/v1"
	h.password = "first-admin-password"
	if m := adminPasswordLine.FindStringSubmatch(h.proc.stdout.String()); m != nil {
		h.password = m[1]
	}
	return h
}

func (h *adminHub) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runHubCommand(t, h.dir, stdin, args, h.env...)
}

// TestUserCommands drives `hub user …` against a running hub on each
// database, as an operator who lost every administrator password would:
// the changes take effect in the running hub at once (new passwords sign
// in, old tokens stop working), follow the identity rules (password policy,
// roles, the last administrator) and are audited with a cli: actor.
func TestUserCommands(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			h := startAdminHub(t, dialect)
			admin := login(t, h.api, "admin", h.password)

			// create, with the password on standard input.
			r := h.run(t, "ops-password-1\n", "user", "create", "ops", "--role", "admin", "--email", "ops@example.com", "--password-stdin")
			r.want(t, "create ops", 0)
			if !strings.Contains(r.stdout, `created user "ops" (Admin`) {
				t.Errorf("create printed %q", r.stdout)
			}
			if code := signInStatus(t, h.api, "ops", "ops-password-1"); code != 200 {
				t.Errorf("ops signs in: %d, want 200", code)
			}
			h.run(t, "again-password\n", "user", "create", "OPS", "--password-stdin").want(t, "duplicate", 1, "Username already exists.")
			h.run(t, "short\n", "user", "create", "shorty", "--password-stdin").want(t, "weak password", 1, "password must be 8 to 128 characters")
			h.run(t, "", "user", "create", "nopw").want(t, "no terminal", 2, "--password-stdin or --generate-password")
			h.run(t, "", "user", "create", "x1", "--password", "on-the-command-line").want(t, "password flag", 2, "not defined")
			h.run(t, "", "user", "create", "x2", "--role", "Boss", "--generate-password").want(t, "bad role", 2, "unknown role")

			// A generated password is printed once and signs in.
			r = h.run(t, "", "user", "create", "viewer", "--generate-password")
			r.want(t, "create viewer", 0)
			m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("no generated password in %q", r.stdout)
			}
			if code := signInStatus(t, h.api, "viewer", m[1]); code != 200 {
				t.Errorf("viewer signs in with the generated password: %d", code)
			}

			// set-password revokes the tokens issued before.
			if code := admin.call("GET", "/auth/me", "", nil, nil); code != 200 {
				t.Fatalf("admin token before the reset: %d", code)
			}
			h.run(t, "new-admin-password\n", "user", "set-password", "admin", "--password-stdin").want(t, "set-password", 0)
			if code := admin.call("GET", "/auth/me", "", nil, nil); code != 401 {
				t.Errorf("admin token after the reset: %d, want 401", code)
			}
			if code := signInStatus(t, h.api, "admin", h.password); code == 200 {
				t.Errorf("old password after the reset: %d, want a refusal", code)
			}
			if code := signInStatus(t, h.api, "admin", "new-admin-password"); code != 200 {
				t.Errorf("new password: %d, want 200", code)
			}

			// set-role and deactivate keep the last administrator.
			h.run(t, "", "user", "set-role", "admin", "viewer").want(t, "demote admin", 0)
			h.run(t, "", "user", "deactivate", "ops").want(t, "deactivate the last admin", 1, "last active local administrator")
			h.run(t, "", "user", "set-role", "ops@example.com", "Operator").want(t, "demote the last admin", 1, "last active local administrator")
			h.run(t, "", "user", "set-role", "admin", "Admin").want(t, "promote admin", 0)
			h.run(t, "", "user", "deactivate", "ops").want(t, "deactivate ops", 0)
			if code := signInStatus(t, h.api, "ops", "ops-password-1"); code == 200 {
				t.Errorf("a deactivated user signed in")
			}
			h.run(t, "", "user", "activate", "ops").want(t, "activate ops", 0)
			h.run(t, "", "user", "deactivate", "nobody").want(t, "unknown user", 1, `no user "nobody"`)
			h.run(t, "", "user", "frobnicate").want(t, "unknown subcommand", 2)

			r = h.run(t, "", "user", "list", "--json")
			r.want(t, "list", 0)
			var users []userListItem
			if err := json.Unmarshal([]byte(r.stdout), &users); err != nil {
				t.Fatalf("list --json: %v\n%s", err, r.stdout)
			}
			roles := map[string]string{}
			for _, u := range users {
				roles[u.Username] = u.Role
			}
			if roles["admin"] != "Admin" || roles["ops"] != "Admin" || roles["viewer"] != "Viewer" || len(users) != 3 {
				t.Errorf("list = %v, want admin, ops (Admin) and viewer (Viewer)", roles)
			}
			r = h.run(t, "", "user", "list")
			if !regexp.MustCompile(`(?m)^ops\s+Admin\s+yes\s+local\s+ops@example.com`).MatchString(r.stdout) {
				t.Errorf("list table:\n%s", r.stdout)
			}

			// Every change is in the audit trail, by the command line.
			c := login(t, h.api, "admin", "new-admin-password")
			var audit struct {
				Items []struct {
					ActorUserID  *string `json:"actor_user_id"`
					ActorSubject *string `json:"actor_subject"`
					Action       string  `json:"action"`
				} `json:"items"`
			}
			c.call("GET", "/audit-events?limit=100", "", nil, &audit)
			byCLI := map[string]int{}
			for _, e := range audit.Items {
				if e.ActorSubject != nil && strings.HasPrefix(*e.ActorSubject, "cli:") && e.ActorUserID == nil {
					byCLI[e.Action]++
				}
			}
			// created: ops, viewer; updated: set-password, 2 roles, deactivate, activate.
			if byCLI["user.created"] != 2 || byCLI["user.updated"] != 5 {
				t.Errorf("audit events by the command line = %v, want 2 user.created and 5 user.updated", byCLI)
			}
			h.proc.stop(t)
		})
	}
}

// TestUserCommandPromptsOnATerminal sets a password through the prompt, on
// a pseudo-terminal made by script(1), and checks that the stored hash
// matches what was typed. (All input reaches the terminal before the prompt
// turns echo off, so whether it echoes cannot be seen here.)
func TestUserCommandPromptsOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil || runtime.GOOS != "linux" {
		t.Skip("needs script(1) from util-linux")
	}
	t.Parallel()
	dir := t.TempDir()
	env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}
	runHubCommand(t, dir, "", []string{"migrate"}, env...).want(t, "migrate", 0)
	typed := func(label, input, want string, code int) {
		t.Helper()
		cmd := exec.Command("script", "-q", "-e", "-c", hubBinary(t)+" user create dave --role Operator", "/dev/null")
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		got := 0
		if errors.As(err, &exit) {
			got = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != code || !strings.Contains(string(out), want) {
			t.Errorf("%s: exit %d, want %d, output %q wanting %q", label, got, code, out, want)
		}
	}
	typed("different passwords", "typed-password-1\ntyped-password-2\n", "the two passwords differ", 1)
	typed("same password twice", "typed-password-1\ntyped-password-1\n", `created user "dave" (Operator`, 0)

	db, err := sqlstore.Open(context.Background(), config.Database{Dialect: config.SQLite, DSN: filepath.Join(dir, "data", "hub.db")}, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByLogin(context.Background(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	if !identity.CheckPassword(u.HashedPassword, "typed-password-1") {
		t.Error("the stored hash does not match the typed password")
	}
}
