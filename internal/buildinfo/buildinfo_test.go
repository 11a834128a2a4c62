package buildinfo_test

import (
	"runtime"
	"runtime/debug"
	"testing"

	"automationhub/internal/buildinfo"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	vcs := func(rev, at, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "automationhub", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
				{Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}}
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                         string
		version                      string
		bi                           *debug.BuildInfo
		wantVersion, wantCommit      string
		wantDate, wantString, wantUI string
	}{
		{
			name: "release build from a clean checkout", version: "1.4.0",
			bi:          vcs("0123456789abcdef0123456789abcdef01234567", "2026-11-30T10:00:00Z", "false"),
			wantVersion: "1.4.0", wantCommit: "0123456789abcdef0123456789abcdef01234567", wantDate: "2026-11-30T10:00:00Z",
			wantString: "1.4.0 (commit 0123456789ab, built 2026-11-30T10:00:00Z, go1.26.8 " + platform + ")",
			wantUI:     "1.4.0 (0123456789ab, 2026-11-30)",
		},
		{
			name: "modified tree, commit time in another zone", version: "",
			bi:          vcs("0123456789abcdef0123456789abcdef01234567", "2026-11-30T12:00:00+02:00", "true"),
			wantVersion: "dev", wantCommit: "0123456789abcdef0123456789abcdef01234567", wantDate: "2026-11-30T10:00:00Z",
			wantString: "dev (commit 0123456789ab-dirty, built 2026-11-30T10:00:00Z, go1.26.8 " + platform + ")",
			wantUI:     "dev (0123456789ab-dirty, 2026-11-30)",
		},
		{
			name: "built with -buildvcs=false", version: "dev",
			bi:          &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "automationhub", Version: "(devel)"}},
			wantVersion: "dev", wantCommit: "unknown", wantDate: "unknown",
			wantString: "dev (commit unknown, built unknown, go1.26.8 " + platform + ")",
			wantUI:     "dev",
		},
		{
			name: "installed as a module version", version: "dev",
			bi:          &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "automationhub", Version: "v1.5.0"}},
			wantVersion: "v1.5.0", wantCommit: "unknown", wantDate: "unknown",
			wantString: "v1.5.0 (commit unknown, built unknown, go1.26.8 " + platform + ")",
			wantUI:     "v1.5.0",
		},
		{
			name: "no build information at all", version: " 2.0.0 ",
			wantVersion: "2.0.0", wantCommit: "unknown", wantDate: "unknown",
			wantString: "2.0.0 (commit unknown, built unknown, " + runtime.Version() + " " + platform + ")",
			wantUI:     "2.0.0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := buildinfo.FromBuildInfo(tt.version, tt.bi)
			if got.Version != tt.wantVersion || got.Commit != tt.wantCommit || got.Date != tt.wantDate {
				t.Errorf("got version %q commit %q date %q, want %q %q %q", got.Version, got.Commit, got.Date,
					tt.wantVersion, tt.wantCommit, tt.wantDate)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("String: got %q, want %q", s, tt.wantString)
			}
			if s := got.Label(); s != tt.wantUI {
				t.Errorf("Label: got %q, want %q", s, tt.wantUI)
			}
		})
	}
}

// A test binary carries no version control information: Read must still
// answer, with "unknown" where the build recorded nothing.
func TestReadRunningBinary(t *testing.T) {
	t.Parallel()
	got := buildinfo.Read("test")
	if got.Version != "test" || got.GoVersion == "" || got.Commit == "" || got.Date == "" {
		t.Errorf("Read = %+v, want version test and no empty field", got)
	}
}
