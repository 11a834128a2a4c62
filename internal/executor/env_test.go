package executor

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// This file is an internal test so that the Windows case rule of buildEnv
// can be checked on every OS.

func TestBuildEnv(t *testing.T) {
	t.Parallel()
	base := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/worker",
		"SECRET_KEY=s3cret",
		"DATABASE_URL=postgres://hub:pw@db/hub",
		"REDIS_URL=redis://:pw@redis:6379/0",
		"AZURE_AD_CLIENT_ID=client",
		"AZURE_AD_CLIENT_SECRET=client-secret",
		"DEFAULT_ADMIN_PASSWORD=admin",
		"AWS_SECRET_ACCESS_KEY=aws",
		"HUB_SECRET_KEY=hub",
		"http_proxy=http://proxy:3128",
		"HTTPS_PROXY=http://proxy:3128",
		"path=/lowercase/is/another/variable",
		"NO_EQUALS_SIGN",
		"=C:=C:\\hub",
		"TZ=UTC",
		"TZ=Europe/Berlin", // later duplicate wins
	}
	fixed := []string{"HUB_OUTPUT_DIR=/runs/r1/outputs", "HUB_RUN_ID=r1", "PYTHONIOENCODING=utf-8", "PYTHONUNBUFFERED=1"}
	tests := []struct {
		name   string
		fold   bool
		base   []string
		layers []map[string]string
		want   []string
	}{
		{
			name: "only allow-listed variables are inherited",
			base: base,
			want: append([]string{
				"HOME=/home/worker", "HTTPS_PROXY=http://proxy:3128", "PATH=/usr/bin:/bin", "TZ=Europe/Berlin",
				"http_proxy=http://proxy:3128",
			}, fixed...),
		},
		{
			name: "nothing but the fixed variables",
			want: fixed,
		},
		{
			name: "later layers win, layers win over base",
			base: []string{"PATH=/usr/bin", "LANG=C"},
			layers: []map[string]string{
				{"MODE": "version", "ONLY_VERSION": "v", "PATH": "/venv/bin:/usr/bin"},
				{"MODE": "runtime", "ONLY_RUNTIME": "r"},
			},
			want: append([]string{"LANG=C", "MODE=runtime", "ONLY_RUNTIME=r", "ONLY_VERSION=v", "PATH=/venv/bin:/usr/bin"}, fixed...),
		},
		{
			name: "layers may set any name, secrets included",
			layers: []map[string]string{
				{"API_TOKEN": "given on purpose"},
			},
			want: append([]string{"API_TOKEN=given on purpose"}, fixed...),
		},
		{
			name: "fixed variables cannot be overridden",
			layers: []map[string]string{
				{"PYTHONUNBUFFERED": "0", "HUB_RUN_ID": "evil", "HUB_OUTPUT_DIR": "/etc"},
				{"PYTHONIOENCODING": "latin-1"},
			},
			want: fixed,
		},
		{
			name: "invalid entries are skipped",
			base: []string{"PATH=/bin\x00/evil", "HOME=/home/worker"},
			layers: []map[string]string{
				{"": "empty", "A=B": "equals", "NUL\x00KEY": "nul", "NUL_VALUE": "a\x00b", "OK": "", "SPACE KEY": "kept"},
			},
			want: append([]string{"HOME=/home/worker", "OK=", "SPACE KEY=kept"}, fixed...),
		},
		{
			name: "names are case-sensitive outside Windows",
			base: []string{"Path=/x", "HTTP_PROXY=upper", "http_proxy=lower"},
			layers: []map[string]string{
				{"hub_run_id": "own variable", "Mode": "a", "MODE": "b"},
			},
			want: []string{
				"HTTP_PROXY=upper", "HUB_OUTPUT_DIR=/runs/r1/outputs", "HUB_RUN_ID=r1", "MODE=b", "Mode=a",
				"PYTHONIOENCODING=utf-8", "PYTHONUNBUFFERED=1", "http_proxy=lower", "hub_run_id=own variable",
			},
		},
		{
			name: "names fold on Windows",
			fold: true,
			base: []string{
				"Path=C:\\Windows", "SystemRoot=C:\\Windows", "ProgramFiles(x86)=C:\\PF86", "SECRET_KEY=s",
				"=C:=C:\\hub", "HTTP_PROXY=upper", "http_proxy=lower",
			},
			layers: []map[string]string{
				{"PATH": "C:\\venv;C:\\Windows", "hub_run_id": "evil", "Mode": "a", "MODE": "b"},
			},
			want: []string{
				"HUB_OUTPUT_DIR=/runs/r1/outputs", "HUB_RUN_ID=r1", "Mode=a", "PATH=C:\\venv;C:\\Windows",
				"PYTHONIOENCODING=utf-8", "PYTHONUNBUFFERED=1", "ProgramFiles(x86)=C:\\PF86", "SystemRoot=C:\\Windows",
				"http_proxy=lower",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := buildEnv(tt.fold, tt.base, "r1", "/runs/r1/outputs", tt.layers...)
			if diff := cmp.Diff(sortedByKey(tt.want), got); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
			keys := make([]string, len(got))
			for i, kv := range got {
				keys[i], _, _ = strings.Cut(kv, "=")
			}
			if !slices.IsSorted(keys) {
				t.Errorf("got keys %q, want them sorted", keys)
			}
			for _, secret := range []string{"SECRET", "DATABASE_URL", "REDIS_URL", "AZURE", "PASSWORD", "AWS_"} {
				for _, kv := range got {
					if k, _, _ := strings.Cut(kv, "="); strings.Contains(strings.ToUpper(k), secret) {
						t.Errorf("got %q, want no variable named like %s", kv, secret)
					}
				}
			}
		})
	}
}

// sortedByKey returns env sorted by variable name.
func sortedByKey(env []string) []string {
	return slices.SortedFunc(slices.Values(env), func(a, b string) int {
		ka, _, _ := strings.Cut(a, "=")
		kb, _, _ := strings.Cut(b, "=")
		return strings.Compare(ka, kb)
	})
}

func TestBuildEnvUsesOSRule(t *testing.T) {
	t.Parallel()
	base := []string{"PATH=/bin", "SECRET_KEY=s"}
	layers := []map[string]string{{"A": "1"}, {"A": "2"}}
	got := BuildEnv(base, "r", "/o", layers...)
	want := buildEnv(envFoldCase, base, "r", "/o", layers...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BuildEnv (-want +got):\n%s", diff)
	}
}

func TestLookupEnv(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=/first", "OTHER=x", "PATH=/last", "BROKEN"}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"PATH", "/last", true},
		{"OTHER", "x", true},
		{"BROKEN", "", false},
		{"MISSING", "", false},
	}
	for _, tt := range tests {
		got, ok := lookupEnv(env, tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("lookupEnv(%q): got %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}
