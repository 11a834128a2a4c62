// Package buildinfo says which build of the hub is running: the version
// given at link time (-ldflags "-X main.version=…") and the commit, commit
// time and Go version the Go toolchain records in every binary
// (runtime/debug.ReadBuildInfo). Without a link-time version, the version
// the toolchain derived from the checkout is used (a tag such as v1.4.0, or a
// pseudo-version such as v0.0.0-20261130094119-0ef5cb431bbe+dirty). A binary
// built without version control information (go build -buildvcs=false, a
// source archive, or a Git worktree, which the toolchain does not read)
// reports commit and date as "unknown" and its version as "dev".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Unknown stands for a value the build did not record.
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	// Version is the release version ("1.4.0"), or "dev" for a build
	// that was given none.
	Version string
	// Commit is the full revision the binary was built from, or Unknown.
	Commit string
	// Modified is true when the working tree had uncommitted changes.
	Modified bool
	// Date is the commit time in RFC 3339 (UTC), or Unknown. Release
	// builds use it as their build date, so that building the same commit
	// twice gives the same binary.
	Date string
	// GoVersion is the Go toolchain that built the binary ("go1.26.8").
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// Read returns the running binary's build information; version is the
// link-time version ("" or "dev" when none was given).
func Read(version string) Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(version, bi)
}

// FromBuildInfo is Read for a given build record (nil when there is none).
func FromBuildInfo(version string, bi *debug.BuildInfo) Info {
	info := Info{Version: strings.TrimSpace(version), Commit: Unknown, Date: Unknown,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info.Version == "" {
		info.Version = "dev"
	}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	// A module version recorded by `go install module@v1.2.3` is the next
	// best thing to a link-time version.
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				info.Date = t.UTC().Format(time.RFC3339)
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// ShortCommit is the first 12 characters of the commit, with "-dirty"
// when the tree was modified, or Unknown.
func (i Info) ShortCommit() string {
	if i.Commit == Unknown || i.Commit == "" {
		return Unknown
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "-dirty"
	}
	return c
}

// String is the line `hub version` prints after "hub ":
// "1.4.0 (commit 0123456789ab, built 2026-11-30T10:00:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s %s)", i.Version, i.ShortCommit(), i.Date, i.GoVersion, i.Platform)
}

// Label is the short form for page footers: the version, and the commit and
// date when they are known ("1.4.0 (0123456789ab, 2026-11-30)").
func (i Info) Label() string {
	var extra []string
	if c := i.ShortCommit(); c != Unknown {
		extra = append(extra, c)
	}
	if i.Date != Unknown {
		extra = append(extra, i.Date[:min(len(i.Date), len("2006-01-02"))])
	}
	if len(extra) == 0 {
		return i.Version
	}
	return i.Version + " (" + strings.Join(extra, ", ") + ")"
}
