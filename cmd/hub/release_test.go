package main

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"automationhub/internal/hubtest"
)

// releaseTargets are the platforms scripts/release.sh builds, as the file
// name suffixes it gives them.
var releaseTargets = []struct{ goos, goarch, suffix string }{
	{"linux", "amd64", "linux-amd64"},
	{"linux", "arm64", "linux-arm64"},
	{"windows", "amd64", "windows-amd64.exe"},
	{"darwin", "arm64", "darwin-arm64"},
}

// releaseScript returns a command that runs scripts/release.sh with args
// from the repository's root, as docs/deploy.md shows it.
func releaseScript(args ...string) *exec.Cmd {
	cmd := exec.Command("scripts/release.sh", args...)
	cmd.Dir = "../.."
	return cmd
}

// TestReleaseScriptRefusesBadInput: a malformed version or a folder that
// already holds files stops the script before it builds anything, and
// leaves the folder as it was.
func TestReleaseScriptRefusesBadInput(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("a bash script")
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		args       []string
	}{
		{"no version", "usage:", nil},
		{"not a version", "VERSION must look like", []string{"latest", filepath.Join(t.TempDir(), "dist")}},
		{"a version with a space", "VERSION must look like", []string{"1.2.3 4", filepath.Join(t.TempDir(), "dist")}},
		{"a folder with files", "is not empty", []string{"1.2.3", full}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := releaseScript(tt.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "building") {
				t.Errorf("release.sh %q: %v\n%s\nwant a failure saying %q before any build", tt.args, err, out, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the folder with files now holds %d entries, want it untouched", len(entries))
	}
}

// TestReleaseScript runs scripts/release.sh as documented and checks the
// release: all four binaries and SHA256SUMS, the sums right (also with
// sha256sum -c where installed), every binary static (CGO_ENABLED=0),
// -trimpath and for its platform, and the linux/amd64 one, run here, reports
// the version given, the commit it was built from and shows them in its web
// UI and hub_build_info. Cross-compiling four targets from a cold build cache
// takes minutes on two cores, so it runs with HUB_TEST_LONG=1 (CI's long
// step).
func TestReleaseScript(t *testing.T) {
	if !hubtest.Long() {
		t.Skip("builds four release binaries (minutes from a cold build cache); set HUB_TEST_LONG=1")
	}
	if runtime.GOOS == "windows" {
		t.Skip("a bash script")
	}
	const version = "1.2.3-test.1"
	dist := filepath.Join(t.TempDir(), "dist")
	out, err := releaseScript(version, dist).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release.sh %s %s: %v\n%s", version, dist, err, out)
	}

	sums := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sumLine := regexp.MustCompile(`^([0-9a-f]{64})  (hub-\S+)$`)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		m := sumLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("SHA256SUMS: %q is not in sha256sum's format", sc.Text())
			continue
		}
		sums[m[2]] = m[1]
	}
	entries, _ := os.ReadDir(dist)
	if len(entries) != len(releaseTargets)+1 || len(sums) != len(releaseTargets) {
		t.Errorf("dist holds %d files and SHA256SUMS %d sums, want %d binaries and their sums", len(entries), len(sums), len(releaseTargets))
	}
	for _, tg := range releaseTargets {
		name := "hub-" + version + "-" + tg.suffix
		path := filepath.Join(dist, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); sums[name] != got {
			t.Errorf("%s: SHA256SUMS says %q, the file's is %s", name, sums[name], got)
		}
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no Go build information: %v", name, err)
			continue
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if settings["GOOS"] != tg.goos || settings["GOARCH"] != tg.goarch || settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
			t.Errorf("%s: built with GOOS=%s GOARCH=%s CGO_ENABLED=%s -trimpath=%s, want %s/%s, 0, true", name,
				settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"], settings["-trimpath"], tg.goos, tg.goarch)
		}
	}
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sha, "-c", "SHA256SUMS")
		cmd.Dir = dist
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
		}
	}

	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the linux/amd64 binary cannot run on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	bin := filepath.Join(dist, "hub-"+version+"-linux-amd64")
	commit := expectedCommit(t)
	out, err = exec.Command(bin, "version").CombinedOutput()
	if want := "hub " + version + " (commit " + commit; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("%s version: %v %q, want it to start with %q", filepath.Base(bin), err, out, want)
	}

	// The release binary as a hub: the UI footer and hub_build_info.
	dir := t.TempDir()
	p := &hubProcess{cmd: exec.Command(bin), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "HUB_ADDR=127.0.0.1:0"}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	p.URL = p.waitFor(t, "running at ")
	if _, page := get(t, p.URL+"/login"); !regexp.MustCompile(`<footer class="foot">[^<]*` + regexp.QuoteMeta(version)).MatchString(page) {
		t.Errorf("the login page's footer does not show %s:\n%s", version, page)
	}
	build := labelsOf(scrape(t, p.URL+"/metrics")["hub_build_info"])
	if want := "commit=" + strings.TrimSuffix(commit, "-dirty"); len(build) != 1 || !strings.Contains(build[0], "version="+version) || !strings.Contains(build[0], want) {
		t.Errorf("hub_build_info: got %v, want version=%s and %s", build, version, want)
	}
	p.stop(t)
}

// expectedCommit is the short commit a release built from the repository's
// root records: the first 12 hex digits of HEAD, with -dirty when the tree has
// changes, in a Git clone; "unknown" elsewhere (a source archive, or a Git
// worktree, whose .git is a file the Go toolchain does not read).
func expectedCommit(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("../../.git"); err != nil || !st.IsDir() {
		return "unknown"
	}
	head, err := exec.Command("git", "-C", "../..", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))[:12]
	if st, _ := exec.Command("git", "-C", "../..", "status", "--porcelain").Output(); len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}
