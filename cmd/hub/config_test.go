package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/config"
)

// writeDotenv writes content to a .env file in a fresh temporary folder and
// returns its path.
func writeDotenv(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such.env")
	tests := []struct {
		name         string
		dotenv       string // written to a temp .env when non-empty; otherwise path is missing
		environ      []string
		check        func(t *testing.T, c config.Config)
		wantWarnings []string // exact warnings, with "DOTENV" replaced by the .env path
	}{
		{
			name:    "dotenv sets values",
			dotenv:  "HUB_ADDR=127.0.0.1:9100\nLOG_LEVEL=debug\nCORS_ORIGINS=http://a:1,http://b:2\n",
			environ: nil,
			check: func(t *testing.T, c config.Config) {
				if c.Addr != "127.0.0.1:9100" {
					t.Errorf("Addr: got %q, want %q", c.Addr, "127.0.0.1:9100")
				}
				if c.LogLevel != "DEBUG" {
					t.Errorf("LogLevel: got %q, want %q", c.LogLevel, "DEBUG")
				}
				if want := []string{"http://a:1", "http://b:2"}; !cmp.Equal(c.CORSOrigins, want) {
					t.Errorf("CORSOrigins: got %q, want %q", c.CORSOrigins, want)
				}
			},
		},
		{
			name:    "lower-case dotenv key",
			dotenv:  "log_format=text\n",
			environ: nil,
			check: func(t *testing.T, c config.Config) {
				if c.LogFormat != "text" {
					t.Errorf("LogFormat: got %q, want %q", c.LogFormat, "text")
				}
			},
		},
		{
			name:    "environment overrides dotenv",
			dotenv:  "HUB_ADDR=127.0.0.1:9100\nLOG_FORMAT=text\n",
			environ: []string{"HUB_ADDR=127.0.0.1:9200"},
			check: func(t *testing.T, c config.Config) {
				if c.Addr != "127.0.0.1:9200" {
					t.Errorf("Addr: got %q, want %q", c.Addr, "127.0.0.1:9200")
				}
				if c.LogFormat != "text" {
					t.Errorf("LogFormat: got %q, want %q (from .env)", c.LogFormat, "text")
				}
			},
		},
		{
			name:    "lower-case environment name overrides dotenv",
			dotenv:  "HUB_ADDR=127.0.0.1:9100\n",
			environ: []string{"hub_addr=127.0.0.1:9300"},
			check: func(t *testing.T, c config.Config) {
				if c.Addr != "127.0.0.1:9300" {
					t.Errorf("Addr: got %q, want %q", c.Addr, "127.0.0.1:9300")
				}
			},
		},
		{
			name:         "unknown dotenv keys produce one warning naming them",
			dotenv:       "ZETA_THING=1\nHUB_ADDR=127.0.0.1:9100\nALPHA_THING=2\n",
			environ:      nil,
			wantWarnings: []string{"DOTENV: ignoring unknown settings ALPHA_THING, ZETA_THING"},
		},
		{
			name:         "legacy keys produce no warning",
			dotenv:       "SQL_SERVER_HOST=db\nSQL_SERVER_PASSWORD=pw\nAPI_V1_PREFIX=/api/v1\nNEXT_PUBLIC_API_BASE_URL=http://x\n",
			environ:      nil,
			wantWarnings: nil,
		},
		{
			name:         "missing dotenv is fine",
			dotenv:       "",
			environ:      nil,
			wantWarnings: nil,
			check: func(t *testing.T, c config.Config) {
				if diff := cmp.Diff(config.Default(), c); diff != "" {
					t.Errorf("config: got non-default values, want defaults (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:    "unknown environment variables are ignored",
			dotenv:  "",
			environ: []string{"PATH=/bin", "HOME=/root", "LOG_LEVEL_X=LOUD", "NO_EQUALS_SIGN", "=C:=C:\\"},
			check: func(t *testing.T, c config.Config) {
				if diff := cmp.Diff(config.Default(), c); diff != "" {
					t.Errorf("config: got non-default values, want defaults (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := missing
			if tt.dotenv != "" {
				path = writeDotenv(t, tt.dotenv)
			}
			c, warnings, err := loadConfig(tt.environ, path)
			if err != nil {
				t.Fatalf("loadConfig: got error %v, want nil", err)
			}
			var want []string
			for _, w := range tt.wantWarnings {
				want = append(want, strings.ReplaceAll(w, "DOTENV", path))
			}
			if diff := cmp.Diff(want, warnings); diff != "" {
				t.Errorf("warnings: got %q, want %q (-want +got):\n%s", warnings, want, diff)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	tests := []struct {
		name     string
		dotenv   string
		environ  []string
		wantName string
	}{
		{"invalid in environment", "", []string{"LOG_LEVEL=LOUD"}, "LOG_LEVEL"},
		{"invalid in dotenv", "WORKER_CONCURRENCY=-1\n", nil, "WORKER_CONCURRENCY"},
		{"environment breaks a valid dotenv", "HUB_ADDR=127.0.0.1:9100\n", []string{"HUB_ADDR=nonsense"}, "HUB_ADDR"},
		{"parse error in dotenv", "ALLOW_LOCAL_AUTH=maybe\n", nil, "ALLOW_LOCAL_AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.env")
			if tt.dotenv != "" {
				path = writeDotenv(t, tt.dotenv)
			}
			_, _, err := loadConfig(tt.environ, path)
			if err == nil {
				t.Fatalf("loadConfig: got nil error, want an error naming %s", tt.wantName)
			}
			if !strings.Contains(err.Error(), tt.wantName) {
				t.Errorf("loadConfig error: got %q, want it to contain %q", err, tt.wantName)
			}
		})
	}

	t.Run("unreadable dotenv", func(t *testing.T) {
		dir := t.TempDir() // a folder is not a readable .env
		_, _, err := loadConfig(nil, dir)
		if err == nil {
			t.Fatalf("loadConfig(%q): got nil error, want a read error", dir)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("loadConfig error: got %q, want it to contain %q", err, dir)
		}
	})
}

func TestEnsureSecretKey(t *testing.T) {
	t.Run("SECRET_KEY set", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		want := strings.Repeat("k", 40)
		cfg := config.Config{SecretKey: want, DataDir: dir}
		key, generated, err := ensureSecretKey(cfg)
		if err != nil {
			t.Fatalf("ensureSecretKey: got error %v, want nil", err)
		}
		if key != want {
			t.Errorf("key: got %q, want %q", key, want)
		}
		if generated {
			t.Errorf("generated: got true, want false")
		}
		if _, err := os.Stat(filepath.Join(dir, "secret_key")); !os.IsNotExist(err) {
			t.Errorf("secret_key file: got stat error %v, want not-exist", err)
		}
	})

	t.Run("generated then reused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		cfg := config.Config{DataDir: dir}
		key, generated, err := ensureSecretKey(cfg)
		if err != nil {
			t.Fatalf("ensureSecretKey: got error %v, want nil", err)
		}
		if !generated {
			t.Errorf("generated: got false, want true")
		}
		if len(key) < 32 {
			t.Errorf("len(key): got %d, want >= 32", len(key))
		}
		path := filepath.Join(dir, "secret_key")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stat %s: got error %v, want nil", path, err)
		}
		if runtime.GOOS != "windows" {
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("mode of %s: got %o, want %o", path, got, 0o600)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != key {
			t.Errorf("file content: got %q, want %q", got, key)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("files in %s: got %q, want only secret_key", dir, names)
		}

		key2, generated2, err := ensureSecretKey(cfg)
		if err != nil {
			t.Fatalf("second ensureSecretKey: got error %v, want nil", err)
		}
		if key2 != key {
			t.Errorf("second key: got %q, want %q", key2, key)
		}
		if generated2 {
			t.Errorf("second generated: got true, want false")
		}
	})

	t.Run("file with too short key", func(t *testing.T) {
		tests := []struct {
			name    string
			content string
		}{
			{"short", "tooshort\n"},
			{"empty", ""},
			{"31 chars padded with spaces", "  " + strings.Repeat("x", 31) + "  \n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "secret_key")
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				key, _, err := ensureSecretKey(config.Config{DataDir: dir})
				if err == nil {
					t.Fatalf("ensureSecretKey: got key %q, nil error, want an error", key)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error: got %q, want it to name %q", err, path)
				}
			})
		}
	})

	t.Run("concurrent first use", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		cfg := config.Config{DataDir: dir}
		const n = 8
		var (
			keys      [n]string
			generated [n]bool
			errs      [n]error
			wg        sync.WaitGroup
			start     = make(chan struct{})
		)
		for i := range n {
			wg.Go(func() {
				<-start
				keys[i], generated[i], errs[i] = ensureSecretKey(cfg)
			})
		}
		close(start)
		wg.Wait()
		gen := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("call %d: got error %v, want nil", i, errs[i])
				continue
			}
			if keys[i] != keys[0] {
				t.Errorf("call %d: got key %q, want %q (same as call 0)", i, keys[i], keys[0])
			}
			if generated[i] {
				gen++
			}
		}
		if gen > 1 {
			t.Errorf("generated=true: got %d calls, want at most 1", gen)
		}
		if len(keys[0]) < 32 {
			t.Errorf("len(key): got %d, want >= 32", len(keys[0]))
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("files in %s: got %q, want only secret_key", dir, names)
		}
	})
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestRun(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		environ      []string
		wantCode     int
		wantStdout   []string // substrings
		wantStderr   []string // substrings
		stderrLines  int      // exact number of lines on stderr
		stdoutPrefix string
	}{
		{
			name:        "--help",
			args:        []string{"--help"},
			wantCode:    exitOK,
			wantStdout:  []string{"HUB_ADDR", "DATABASE_URL", "Usage: hub"},
			stderrLines: 0,
		},
		{
			name:        "help",
			args:        []string{"help"},
			wantCode:    exitOK,
			wantStdout:  []string{"HUB_ADDR", "DATABASE_URL"},
			stderrLines: 0,
		},
		{
			name:        "serve --help",
			args:        []string{"serve", "--help"},
			wantCode:    exitOK,
			wantStdout:  []string{"HUB_ADDR", "DATABASE_URL"},
			stderrLines: 0,
		},
		{
			name:         "version",
			args:         []string{"version"},
			wantCode:     exitOK,
			stdoutPrefix: "hub ",
			stderrLines:  0,
		},
		{
			name:         "--version",
			args:         []string{"--version"},
			wantCode:     exitOK,
			stdoutPrefix: "hub ",
			stderrLines:  0,
		},
		{
			name:        "unknown command",
			args:        []string{"frobnicate"},
			wantCode:    exitUsage,
			wantStderr:  []string{"frobnicate"},
			stderrLines: 1,
		},
		{
			name:        "extra argument",
			args:        []string{"serve", "extra"},
			wantCode:    exitUsage,
			wantStderr:  []string{"extra"},
			stderrLines: 1,
		},
		{
			name:        "invalid setting",
			args:        nil,
			environ:     []string{"LOG_LEVEL=LOUD"},
			wantCode:    exitUsage,
			wantStderr:  []string{"LOG_LEVEL"},
			stderrLines: 1,
		},
		{
			name:        "invalid setting with migrate",
			args:        []string{"migrate"},
			environ:     []string{"PATH=/bin", "LOG_LEVEL=LOUD"},
			wantCode:    exitUsage,
			wantStderr:  []string{"LOG_LEVEL"},
			stderrLines: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, tt.environ, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr: %q)", code, tt.wantCode, stderr.String())
			}
			for _, s := range tt.wantStdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout: got %q, want it to contain %q", stdout.String(), s)
				}
			}
			if tt.stdoutPrefix != "" && !strings.HasPrefix(stdout.String(), tt.stdoutPrefix) {
				t.Errorf("stdout: got %q, want prefix %q", stdout.String(), tt.stdoutPrefix)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), s)
				}
			}
			// Exactly stderrLines newline-terminated lines, none of them empty.
			errOut := stderr.String()
			if got := strings.Count(errOut, "\n"); got != tt.stderrLines || len(lines(errOut)) != tt.stderrLines ||
				(tt.stderrLines > 0 && !strings.HasSuffix(errOut, "\n")) || (tt.stderrLines == 0 && errOut != "") {
				t.Errorf("stderr: got %q, want exactly %d line(s)", errOut, tt.stderrLines)
			}
		})
	}
}
