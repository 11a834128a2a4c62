package config_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/config"
)

func TestDefault(t *testing.T) {
	c := config.Default()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"HUB_ADDR", c.Addr, ":8000"},
		// Relative folders are resolved once, against the working directory.
		{"HUB_DATA_DIR", c.DataDir, filepath.Join(wd, "data")},
		{"ARTIFACTS_ROOT", c.ArtifactsRoot, filepath.Join(wd, "data", "artifacts")},
		{"REDIS_URL", c.RedisURL, ""},
		{"Database()", c.Database(), config.Database{Dialect: config.SQLite, DSN: filepath.Join(wd, "data", "hub.db")}},
		{"WORKER_CONCURRENCY", c.WorkerConcurrency, runtime.NumCPU()},
		{"AUTH_MODE", c.AuthMode, "hybrid"},
		{"LOG_FORMAT", c.LogFormat, "json"},
		{"RUN_MAX_DISK_BYTES", c.RunMaxDiskBytes, int64(10 << 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("got %v, want %v (-want +got):\n%s", tt.got, tt.want, diff)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, c config.Config)
	}{
		{
			name: "lower-case variable name",
			vars: map[string]string{"hub_addr": "127.0.0.1:9000"},
			check: func(t *testing.T, c config.Config) {
				if c.Addr != "127.0.0.1:9000" {
					t.Errorf("Addr: got %q, want %q", c.Addr, "127.0.0.1:9000")
				}
			},
		},
		{
			name: "mixed-case variable name",
			vars: map[string]string{"Log_Format": "text"},
			check: func(t *testing.T, c config.Config) {
				if c.LogFormat != "text" {
					t.Errorf("LogFormat: got %q, want %q", c.LogFormat, "text")
				}
			},
		},
		{
			name: "CSV list trimmed and empty entries dropped",
			vars: map[string]string{"CORS_ORIGINS": " http://a:1 , ,http://b:2 "},
			check: func(t *testing.T, c config.Config) {
				want := []string{"http://a:1", "http://b:2"}
				if diff := cmp.Diff(want, c.CORSOrigins); diff != "" {
					t.Errorf("CORSOrigins: got %q, want %q (-want +got):\n%s", c.CORSOrigins, want, diff)
				}
			},
		},
		{
			name: "CORS_ORIGINS of only separators gives empty list",
			vars: map[string]string{"CORS_ORIGINS": " , "},
			check: func(t *testing.T, c config.Config) {
				if len(c.CORSOrigins) != 0 {
					t.Errorf("CORSOrigins: got %q, want empty", c.CORSOrigins)
				}
			},
		},
		{
			name: "LOG_LEVEL warning becomes WARN",
			vars: map[string]string{"LOG_LEVEL": "warning"},
			check: func(t *testing.T, c config.Config) {
				if c.LogLevel != "WARN" {
					t.Errorf("LogLevel: got %q, want %q", c.LogLevel, "WARN")
				}
			},
		},
		{
			name: "LOG_LEVEL lower case is upper-cased",
			vars: map[string]string{"LOG_LEVEL": " debug "},
			check: func(t *testing.T, c config.Config) {
				if c.LogLevel != "DEBUG" {
					t.Errorf("LogLevel: got %q, want %q", c.LogLevel, "DEBUG")
				}
			},
		},
		{
			name: "DATABASE_URL postgres",
			vars: map[string]string{"DATABASE_URL": "postgres://u:p@h:5432/db"},
			check: func(t *testing.T, c config.Config) {
				want := config.Database{Dialect: config.Postgres, DSN: "postgres://u:p@h:5432/db"}
				if got := c.Database(); got != want {
					t.Errorf("Database(): got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "DATABASE_URL postgresql scheme",
			vars: map[string]string{"DATABASE_URL": "postgresql://u@h/db"},
			check: func(t *testing.T, c config.Config) {
				if got := c.Database().Dialect; got != config.Postgres {
					t.Errorf("Dialect: got %q, want %q", got, config.Postgres)
				}
			},
		},
		{
			name: "DATABASE_URL sqlite path",
			vars: map[string]string{"DATABASE_URL": "sqlite:/tmp/x.db"},
			check: func(t *testing.T, c config.Config) {
				want := config.Database{Dialect: config.SQLite, DSN: "/tmp/x.db"}
				if got := c.Database(); got != want {
					t.Errorf("Database(): got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "ARTIFACTS_ROOT follows HUB_DATA_DIR",
			vars: map[string]string{"HUB_DATA_DIR": "/srv/hub"},
			check: func(t *testing.T, c config.Config) {
				want := filepath.Join("/srv/hub", "artifacts")
				if c.ArtifactsRoot != want {
					t.Errorf("ArtifactsRoot: got %q, want %q", c.ArtifactsRoot, want)
				}
			},
		},
		{
			name: "explicit ARTIFACTS_ROOT kept",
			vars: map[string]string{"ARTIFACTS_ROOT": "/mnt/art"},
			check: func(t *testing.T, c config.Config) {
				if c.ArtifactsRoot != "/mnt/art" {
					t.Errorf("ArtifactsRoot: got %q, want %q", c.ArtifactsRoot, "/mnt/art")
				}
			},
		},
		{
			name: "TRUSTED_PROXIES IP and CIDR",
			vars: map[string]string{"TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"},
			check: func(t *testing.T, c config.Config) {
				want := []string{"10.0.0.1", "192.168.0.0/16"}
				if diff := cmp.Diff(want, c.TrustedProxies); diff != "" {
					t.Errorf("TrustedProxies: got %q, want %q (-want +got):\n%s", c.TrustedProxies, want, diff)
				}
			},
		},
		{
			name: "prod with strong SECRET_KEY",
			vars: map[string]string{"ENVIRONMENT": "PROD", "SECRET_KEY": strings.Repeat("k", 32)},
			check: func(t *testing.T, c config.Config) {
				if c.Environment != "prod" {
					t.Errorf("Environment: got %q, want %q", c.Environment, "prod")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.vars)
			if err != nil {
				t.Fatalf("Load(%v): got error %v, want nil", tt.vars, err)
			}
			tt.check(t, c)
		})
	}
}

// TestLoadEmptyCORSOriginsDisablesCORS checks the documented meaning of an
// empty CORS_ORIGINS ("empty disables CORS").
//
// An explicitly empty list setting means an empty list, not the default:
// CORS_ORIGINS= must switch CORS off.
func TestLoadEmptyCORSOriginsDisablesCORS(t *testing.T) {
	c, err := config.Load(map[string]string{"CORS_ORIGINS": ""})
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	if len(c.CORSOrigins) != 0 {
		t.Errorf("CORSOrigins: got %q, want empty", c.CORSOrigins)
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		wantName string
	}{
		{"HUB_ADDR nonsense", map[string]string{"HUB_ADDR": "nonsense"}, "HUB_ADDR"},
		{"HUB_WORKER_ADDR without a port", map[string]string{"HUB_WORKER_ADDR": "127.0.0.1"}, "HUB_WORKER_ADDR"},
		{"LOG_LEVEL LOUD", map[string]string{"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"},
		{"LOG_FORMAT xml", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"AUTH_MODE magic", map[string]string{"AUTH_MODE": "magic"}, "AUTH_MODE"},
		{"ALGORITHM RS256", map[string]string{"ALGORITHM": "RS256"}, "ALGORITHM"},
		{"ACCESS_TOKEN_EXPIRE_MINUTES parse error", map[string]string{"ACCESS_TOKEN_EXPIRE_MINUTES": "abc"}, "ACCESS_TOKEN_EXPIRE_MINUTES"},
		{"ACCESS_TOKEN_EXPIRE_MINUTES zero", map[string]string{"ACCESS_TOKEN_EXPIRE_MINUTES": "0"}, "ACCESS_TOKEN_EXPIRE_MINUTES"},
		{"WORKER_CONCURRENCY negative", map[string]string{"WORKER_CONCURRENCY": "-1"}, "WORKER_CONCURRENCY"},
		{"DATABASE_URL mysql", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"DATABASE_URL sqlite options", map[string]string{"DATABASE_URL": "sqlite:/x.db?_pragma=x"}, "DATABASE_URL"},
		{"REDIS_URL http", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"CORS_ORIGINS not an origin", map[string]string{"CORS_ORIGINS": "not-an-origin"}, "CORS_ORIGINS"},
		{"TRUSTED_PROXIES bad CIDR", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/99"}, "TRUSTED_PROXIES"},
		{"SECRET_KEY short", map[string]string{"SECRET_KEY": "short"}, "SECRET_KEY"},
		{"prod without SECRET_KEY", map[string]string{"ENVIRONMENT": "prod"}, "SECRET_KEY"},
		{"prod with sample SECRET_KEY", map[string]string{"ENVIRONMENT": "prod", "SECRET_KEY": "change-me"}, "SECRET_KEY"},
		{"DEFAULT_ADMIN_PASSWORD 7 chars", map[string]string{"DEFAULT_ADMIN_PASSWORD": "1234567"}, "DEFAULT_ADMIN_PASSWORD"},
		{"ALLOW_LOCAL_AUTH maybe", map[string]string{"ALLOW_LOCAL_AUTH": "maybe"}, "ALLOW_LOCAL_AUTH"},
		{"AZURE_AD_ISSUER ftp", map[string]string{"AZURE_AD_ISSUER": "ftp://x"}, "AZURE_AD_ISSUER"},
		{"MAX_ARTIFACT_BYTES zero", map[string]string{"MAX_ARTIFACT_BYTES": "0"}, "MAX_ARTIFACT_BYTES"},
		{"RUN_MAX_DISK_BYTES zero (no limit is not an option)", map[string]string{"RUN_MAX_DISK_BYTES": "0"}, "RUN_MAX_DISK_BYTES"},
		{"RUN_MAX_DISK_BYTES under 1 MiB", map[string]string{"RUN_MAX_DISK_BYTES": "1048575"}, "RUN_MAX_DISK_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.vars)
			if err == nil {
				t.Fatalf("Load(%v): got nil error, want an error naming %s", tt.vars, tt.wantName)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantName) {
				t.Errorf("Load(%v) error: got %q, want it to contain %q", tt.vars, msg, tt.wantName)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("Load(%v) error: got %q, want a single line", tt.vars, msg)
			}
		})
	}
}

func TestLoadInvalidDoesNotLeakDatabasePassword(t *testing.T) {
	// A PostgreSQL URL without a host is rejected; the message must not
	// repeat the password.
	_, err := config.Load(map[string]string{"DATABASE_URL": "postgres://u:secretpw@/db"})
	if err == nil {
		t.Fatal("Load: got nil error, want an error for a PostgreSQL URL without host")
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("Load error: got %q, want no password in it", err)
	}
}

func TestSettings(t *testing.T) {
	settings := config.Settings()
	if len(settings) == 0 {
		t.Fatal("Settings(): got 0 settings, want some")
	}
	seen := map[string]bool{}
	for _, s := range settings {
		t.Run(s.Name, func(t *testing.T) {
			for _, f := range []struct{ field, v string }{{"Name", s.Name}, {"Group", s.Group}, {"Help", s.Help}} {
				if strings.TrimSpace(f.v) == "" {
					t.Errorf("%s of %+v: got empty, want non-empty", f.field, s)
				}
			}
			if seen[s.Name] {
				t.Errorf("name %q: got a duplicate, want unique names", s.Name)
			}
			seen[s.Name] = true
		})
	}
}

func TestKnown(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"redis_url", true},
		{"REDIS_URL", true},
		{"Hub_Addr", true},
		{"NOPE", false},
		{"", false},
		{"SQL_SERVER_HOST", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.Known(tt.name); got != tt.want {
				t.Errorf("Known(%q): got %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	secret := strings.Repeat("s", 40)
	set, err := config.Load(map[string]string{
		"SECRET_KEY":             secret,
		"DEFAULT_ADMIN_PASSWORD": "hunter2hunter2",
		"DATABASE_URL":           "postgres://u:secretpw@h/db",
		"REDIS_URL":              "redis://:redispw@r:6379/0",
	})
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	unset := config.Default()

	tests := []struct {
		name string
		cfg  config.Config
		key  string
		want string
	}{
		{"SECRET_KEY set", set, "SECRET_KEY", "<redacted>"},
		{"DEFAULT_ADMIN_PASSWORD set", set, "DEFAULT_ADMIN_PASSWORD", "<redacted>"},
		{"SECRET_KEY empty", unset, "SECRET_KEY", ""},
		{"DEFAULT_ADMIN_PASSWORD empty", unset, "DEFAULT_ADMIN_PASSWORD", ""},
		{"DATABASE_URL empty", unset, "DATABASE_URL", ""},
		{"REDIS_URL empty", unset, "REDIS_URL", ""},
		{"HUB_ADDR plain", unset, "HUB_ADDR", ":8000"},
		{"CORS_ORIGINS joined", unset, "CORS_ORIGINS", "http://localhost:3000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.cfg.Redacted()[tt.key]
			if !ok {
				t.Fatalf("Redacted()[%q]: got missing, want %q", tt.key, tt.want)
			}
			if got != tt.want {
				t.Errorf("Redacted()[%q]: got %q, want %q", tt.key, got, tt.want)
			}
		})
	}

	t.Run("no secret anywhere in output", func(t *testing.T) {
		out := fmt.Sprint(set.Redacted())
		for _, s := range []string{secret, "hunter2hunter2", "secretpw", "redispw"} {
			if strings.Contains(out, s) {
				t.Errorf("Redacted(): got output containing %q, want it hidden: %s", s, out)
			}
		}
		if db := set.Redacted()["DATABASE_URL"]; !strings.Contains(db, "u:") || !strings.Contains(db, "@h/db") {
			t.Errorf("Redacted()[DATABASE_URL]: got %q, want user and host kept", db)
		}
	})

	t.Run("every setting present", func(t *testing.T) {
		r := unset.Redacted()
		for _, s := range config.Settings() {
			if _, ok := r[s.Name]; !ok {
				t.Errorf("Redacted()[%q]: got missing, want present", s.Name)
			}
		}
		if got, want := len(r), len(config.Settings()); got != want {
			t.Errorf("len(Redacted()): got %d, want %d", got, want)
		}
	})
}

func TestWriteHelp(t *testing.T) {
	var buf bytes.Buffer
	config.WriteHelp(&buf)
	out := buf.String()
	for _, s := range config.Settings() {
		if !strings.Contains(out, s.Name) {
			t.Errorf("WriteHelp: got output without %q, want every setting listed", s.Name)
		}
		if !strings.Contains(out, s.Group) {
			t.Errorf("WriteHelp: got output without group %q, want every group listed", s.Group)
		}
	}
}

func TestParseIPOrCIDR(t *testing.T) {
	tests := []struct {
		in       string
		wantErr  bool
		wantNet  string
		contains []string
	}{
		{in: "10.0.0.1", wantNet: "10.0.0.1/32", contains: []string{"10.0.0.1"}},
		{in: "10.0.0.0/8", wantNet: "10.0.0.0/8", contains: []string{"10.1.2.3", "10.255.255.255"}},
		{in: "::1", wantNet: "::1/128", contains: []string{"::1"}},
		{in: "x", wantErr: true},
		{in: "10.0.0.0/40", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := config.ParseIPOrCIDR(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseIPOrCIDR(%q): got %v, nil error, want an error", tt.in, n)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIPOrCIDR(%q): got error %v, want nil", tt.in, err)
			}
			if got := n.String(); got != tt.wantNet {
				t.Errorf("ParseIPOrCIDR(%q): got %s, want %s", tt.in, got, tt.wantNet)
			}
			for _, ip := range tt.contains {
				if !n.Contains(net.ParseIP(ip)) {
					t.Errorf("ParseIPOrCIDR(%q).Contains(%s): got false, want true", tt.in, ip)
				}
			}
		})
	}
}

// TestSettingFiles: secret settings may come from files (NAME_FILE), so
// their values stay out of the process environment.
func TestSettingFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := strings.Repeat("k", 40)
	keyFile := write("key", key+"\n")
	dbFile := write("db", "postgres://hub:s3cret@db:5432/hub\r\n")
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
		check   func(t *testing.T, c config.Config)
	}{
		{"values from files", map[string]string{"SECRET_KEY_FILE": keyFile, "database_url_file": dbFile}, "", func(t *testing.T, c config.Config) {
			if c.SecretKey != key || c.DatabaseURL != "postgres://hub:s3cret@db:5432/hub" {
				t.Errorf("got SECRET_KEY %q, DATABASE_URL %q", c.SecretKey, c.DatabaseURL)
			}
		}},
		{"both set", map[string]string{"SECRET_KEY": key, "SECRET_KEY_FILE": keyFile}, "set either SECRET_KEY or SECRET_KEY_FILE", nil},
		{"missing file", map[string]string{"REDIS_URL_FILE": filepath.Join(dir, "nope")}, "invalid REDIS_URL_FILE", nil},
		{"empty file", map[string]string{"DEFAULT_ADMIN_PASSWORD_FILE": write("empty", "\n")}, "is empty", nil},
		{"not a secret setting", map[string]string{"LOG_LEVEL_FILE": keyFile}, "", func(t *testing.T, c config.Config) {
			if c.LogLevel != "INFO" {
				t.Errorf("LOG_LEVEL_FILE was read: %q", c.LogLevel)
			}
		}},
	}
	for _, tt := range tests {
		c, err := config.Load(tt.vars)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.check != nil:
			tt.check(t, c)
		}
	}
	if !config.Known("SECRET_KEY_FILE") || config.Known("LOG_LEVEL_FILE") {
		t.Error("Known: want SECRET_KEY_FILE known and LOG_LEVEL_FILE unknown")
	}
}
