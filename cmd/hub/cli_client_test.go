package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// cliRobot echoes its arguments and GREETING, writes a line to stderr and
// exits with its second argument.
const cliRobot = "#!/bin/sh\necho \"$GREETING $1\"\necho \"to stderr\" >&2\nexit \"${2:-0}\"\n"

// writeZipFile writes a robot ZIP package to path.
func writeZipFile(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestCommandLineClient publishes a package with `hub publish` and runs it
// with `hub run` against the real binary serving each database, with a
// service account's API token, as a CI pipeline would.
func TestCommandLineClient(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell robots")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "HUB_ADDR=127.0.0.1:0", "DEFAULT_ADMIN_PASSWORD=first-admin-password",
				"DEPLOY_TOKEN=shared-deploy-token-0123456789"}
			if dialect == config.Postgres {
				env = append(env, "DATABASE_URL="+hubtest.DatabaseConfig(t, config.Postgres).DSN, "ENCRYPTION_KEY="+testEncryptionKey,
					"ARTIFACTS_ROOT="+filepath.Join(t.TempDir(), "artifacts"))
			}
			h := startHubProcess(t, dir, env...)
			admin := login(t, h.URL+"/api/v1", "admin", "first-admin-password")
			var robot struct{ ID string }
			if code := admin.call("POST", "/robots", "application/json", strings.NewReader(`{"name":"cli-robot","initial_version":{"version":"0.1.0"}}`), &robot); code != 200 {
				t.Fatalf("create robot: %d", code)
			}
			var sa struct{ ID string }
			if code := admin.call("POST", "/service-accounts", "application/json", strings.NewReader(`{"username":"ci-bot","role":"Maintainer"}`), &sa); code != 201 {
				t.Fatalf("service account: %d", code)
			}
			var tok struct{ Token string }
			if code := admin.call("POST", "/service-accounts/"+sa.ID+"/tokens", "application/json",
				strings.NewReader(`{"name":"pipeline","permissions":["robot.read","robot.publish","robot.run","run.read"],"robot_id":"`+robot.ID+`"}`), &tok); code != 201 {
				t.Fatalf("token: %d", code)
			}
			pkg := filepath.Join(dir, "cli-robot.zip")
			writeZipFile(t, pkg, map[string]string{"run.sh": cliRobot,
				"robot.yaml": "entrypoint_path: run.sh\nentrypoint_type: EXE\nruntime_env: [GREETING]\n"})
			sum := fileSHA256(t, pkg)
			cli := func(args ...string) cliResult {
				t.Helper()
				return runHubCommand(t, dir, "", args)
			}
			flags := []string{"--server", h.URL, "--token", tok.Token}

			res := cli(append([]string{"publish", "--robot", "cli-robot", "--version", "1.0.0"}, append(flags, pkg)...)...)
			res.want(t, "publish", exitOK, "uploading: 100%")
			if !strings.Contains(res.stdout, "sha256:   "+sum) || !strings.Contains(res.stdout, "published: version 1.0.0 (stable), active") {
				t.Errorf("publish output:\n%s", res.stdout)
			}
			// The same version again: the hub's message, exit 1.
			cli(append([]string{"publish", pkg, "--robot", "cli-robot", "--version", "1.0.0"}, flags...)...).want(t, "duplicate", exitFailed, "Version already exists")

			// Follow a run to its exit code.
			res = cli(append([]string{"run", "cli-robot", "--arg", "world", "--arg", "3", "--env", "GREETING=hello", "--follow"}, flags...)...)
			if res.code != 3 || !strings.Contains(res.stdout, "hello world\n") || !strings.Contains(res.stderr, "to stderr\n") ||
				!strings.Contains(res.stderr, "FAILED: Process returned exit code 3") {
				t.Errorf("run --follow: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			// Server and token from the environment; --wait.
			envClient := []string{"HUB_SERVER=" + h.URL + "/api/v1/", "HUB_TOKEN=" + tok.Token}
			res = runHubCommand(t, dir, "", []string{"run", "--wait", robot.ID, "--arg", "x", "--arg", "0"}, envClient...)
			res.want(t, "run --wait", exitOK, "SUCCESS")
			res = runHubCommand(t, dir, "", []string{"run", "cli-robot"}, envClient...)
			if res.code != 0 || !regexp.MustCompile(`^[0-9a-f-]{36}\n$`).MatchString(res.stdout) {
				t.Errorf("run without waiting: %d %q", res.code, res.stdout)
			}

			// CI metadata from GitHub Actions' variables: a deploy publish.
			res = runHubCommand(t, dir, "", []string{"publish", "--robot", "cli-robot", "--version", "1.1.0", "--activate=false", "--quiet", pkg},
				append(envClient, "GITHUB_SHA=abc123", "GITHUB_REF_NAME=main", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=acme/bots", "GITHUB_RUN_ID=42")...)
			res.want(t, "publish from GitHub Actions", exitOK)
			if strings.Contains(res.stderr, "uploading") || !strings.Contains(res.stdout, "not active") {
				t.Errorf("quiet CI publish:\n%s\n%s", res.stdout, res.stderr)
			}
			// The shared DEPLOY_TOKEN, with the robot's id and CI fields.
			cli("publish", "--server", h.URL, "--token", "shared-deploy-token-0123456789", "--robot", "cli-robot", "--version", "1.2.0", pkg).
				want(t, "deploy token by name", exitUsage, "--commit")
			res = cli("publish", "--server", h.URL, "--token", "shared-deploy-token-0123456789", "--robot", robot.ID, "--version", "1.2.0",
				"--commit", "def456", "--branch", "release", "--build-url", "https://ci.example/9", pkg)
			res.want(t, "deploy token", exitOK)
			var versions []struct {
				Version       string  `json:"version"`
				CreatedSource string  `json:"created_source"`
				CommitSHA     *string `json:"commit_sha"`
				BuildURL      *string `json:"build_url"`
				CreatedBy     *string `json:"created_by"`
			}
			admin.call("GET", "/robots/"+robot.ID+"/versions", "", nil, &versions)
			got := map[string]string{}
			for _, v := range versions {
				got[v.Version] = v.CreatedSource + " " + orNone(v.CommitSHA) + " " + orNone(v.BuildURL) + " " + orNone(v.CreatedBy)
			}
			for v, want := range map[string]string{"1.0.0": "user <none> <none> " + sa.ID, "1.1.0": "github_actions abc123 https://github.com/acme/bots/actions/runs/42 " + sa.ID,
				"1.2.0": "github_actions def456 https://ci.example/9 <none>"} {
				if got[v] != want {
					t.Errorf("version %s: %q, want %q", v, got[v], want)
				}
			}

			// Refusals: a robot the token may not touch, no token, a bad file.
			cli("run", "--server", h.URL, "--token", tok.Token, "no-such-robot").want(t, "unknown robot", exitFailed, "no robot named")
			cli("run", "--server", h.URL, "cli-robot").want(t, "no token", exitUsage, "HUB_TOKEN")
			cli(append([]string{"publish", "--robot", "cli-robot", "--version", "2.0.0", filepath.Join(dir, "missing.zip")}, flags...)...).
				want(t, "missing file", exitFailed, "missing.zip")
			revoked := login(t, h.URL+"/api/v1", "admin", "first-admin-password")
			var list []struct{ ID, Name string }
			revoked.call("GET", "/tokens?all=true", "", nil, &list)
			for _, tk := range list {
				if tk.Name == "pipeline" {
					revoked.call("DELETE", "/tokens/"+tk.ID, "", nil, nil)
				}
			}
			cli(append([]string{"run", "cli-robot"}, flags...)...).want(t, "revoked token", exitFailed, "401")
			h.stop(t)
		})
	}
}
