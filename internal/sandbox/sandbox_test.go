package sandbox_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"automationhub/internal/sandbox"
)

func TestCarve(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{"opt/hub/data/worker/runs/r1", "opt/hub/bin", "opt/other", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "opt/hub/hub.env"), []byte("SECRET_KEY=x"), 0o600)
	os.WriteFile(filepath.Join(root, "opt/hub/README"), nil, 0o644)
	p := func(rel ...string) []string {
		out := make([]string, len(rel))
		for i, r := range rel {
			out[i] = filepath.Join(root, r)
		}
		return out
	}
	tests := []struct {
		name          string
		roots, hidden []string
		want          []string
	}{
		{"nothing hidden below the roots", p("opt", "usr"), p("elsewhere"), p("opt", "usr")},
		{"a hidden folder deep down", p("opt"), p("opt/hub/data"), p("opt/hub/README", "opt/hub/bin", "opt/hub/hub.env", "opt/other")},
		{"a hidden file", p("opt"), p("opt/hub/hub.env", "opt/hub/data"), p("opt/hub/README", "opt/hub/bin", "opt/other")},
		{"a hidden root", p("opt", "usr"), p("opt"), p("usr")},
		{"a root inside a hidden folder", p("opt/hub/data/worker"), p("opt/hub/data"), nil},
	}
	for _, tt := range tests {
		got := sandbox.Carve(tt.roots, tt.hidden)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}

func TestCarveHidesSensitiveSystemFiles(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Skip("no /etc/shadow here")
	}
	got := sandbox.Carve([]string{"/etc"}, nil)
	if slices.Contains(got, "/etc") || slices.Contains(got, "/etc/shadow") || !slices.Contains(got, "/etc/passwd") {
		t.Errorf("Carve(/etc) = %v…, want /etc/passwd without /etc/shadow", got[:min(5, len(got))])
	}
}

func TestPolicyArgs(t *testing.T) {
	t.Parallel()
	args, err := sandbox.Policy{Write: []string{"/run/x"}}.Args("/usr/bin/python3", []string{"main.py", "--a b"})
	if err != nil {
		t.Fatal(err)
	}
	if args[0] != sandbox.LauncherCommand || !strings.Contains(args[1], `"write":["/run/x"]`) || !slices.Equal(args[2:], []string{"/usr/bin/python3", "main.py", "--a b"}) {
		t.Errorf("Args = %q", args)
	}
	if err := sandbox.Main([]string{"{not json", "/bin/true"}, nil); err == nil || !strings.Contains(err.Error(), "policy") {
		t.Errorf("Main with a bad policy = %v, want a policy error", err)
	}
}
