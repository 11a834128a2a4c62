package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
)

// docFiles are the README and every page under docs/, by path relative to
// cmd/hub.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range append(paths, "../../README.md") {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

// TestDocsDescribeEverySettingAndCommand keeps the settings table of
// docs/configuration.md and the commands in step with the code.
func TestDocsDescribeEverySettingAndCommand(t *testing.T) {
	t.Parallel()
	docs := docFiles(t)
	settings := docs["../../docs/configuration.md"]
	for _, s := range config.Settings() {
		if !strings.Contains(settings, "| `"+s.Name+"` |") {
			t.Errorf("docs/configuration.md has no settings-table row for %s", s.Name)
		}
	}
	var all strings.Builder
	for _, d := range docs {
		all.WriteString(d)
	}
	for _, cmd := range commands {
		if !strings.Contains(all.String(), "hub "+cmd.name) && cmd.name != "all" {
			t.Errorf("neither README.md nor docs/ mention `hub %s`", cmd.name)
		}
	}
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)|src="([^"]+)"`)
	mdFence = regexp.MustCompile("^\\s*```")
)

// headingAnchors returns the GitHub anchors of a Markdown file's headings
// (outside code blocks).
func headingAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(md, "\n") {
		if mdFence.MatchString(line) {
			inCode = !inCode
			continue
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestDocsLinksResolve checks that every relative link and image in the
// README and docs/ names a file that exists, and that an anchor names a
// heading of its page.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	docs := docFiles(t)
	for path, md := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(md, -1) {
			target := m[1] + m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			resolved := path
			if file != "" {
				resolved = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %s: %v", path, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if page, ok := docs[resolved]; !ok || !headingAnchors(page)[anchor] {
				t.Errorf("%s: link %s: no heading with anchor #%s", path, target, anchor)
			}
		}
	}
}

// tourBlocks returns the ```sh blocks under the README's "Five-minute tour"
// heading, in order.
func tourBlocks(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, tour, ok := strings.Cut(string(readme), "\n## Five-minute tour\n")
	if !ok {
		t.Fatal(`README.md has no "## Five-minute tour" section`)
	}
	if end := strings.Index(tour, "\n## "); end >= 0 {
		tour = tour[:end]
	}
	var blocks []string
	for {
		_, rest, ok := strings.Cut(tour, "\n```sh\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatal("README.md: unterminated ```sh block in the tour")
		}
		blocks = append(blocks, block)
		tour = after
	}
}

// TestReadmeTour runs the README's five-minute tour against the built binary
// started as the README says: in an empty folder, default settings (only the
// address is free, so that parallel tests do not fight over :8000). The
// tour's first block, where the reader fills in the URL and password the hub
// printed, is replaced by the environment (HUB, ADMIN_PASSWORD, and the
// built hub on PATH); every other block runs, in order, in one bash with
// -euo pipefail, in a folder holding a copy of examples/. The run must end in
// SUCCESS and the output file must be downloaded.
func TestReadmeTour(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the tour is a POSIX shell session")
	}
	for _, tool := range []string{"bash", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	t.Parallel()
	blocks := tourBlocks(t)
	if len(blocks) < 2 {
		t.Fatalf("got %d sh blocks in the tour, want the settings block and the steps", len(blocks))
	}
	for _, v := range []string{"HUB=", "ADMIN_PASSWORD=", "alias hub="} {
		if !strings.Contains(blocks[0], v) {
			t.Errorf("the tour's first block does not set %s (the test sets it instead of running the block)", v)
		}
	}
	for i, b := range blocks {
		if regexp.MustCompile(`\bjq\b`).MatchString(b) {
			t.Errorf("tour block %d uses jq; a newcomer may not have it", i+1)
		}
	}

	hub := startHubProcess(t, t.TempDir(), "HUB_ADDR=127.0.0.1:0")
	m := adminPasswordLine.FindStringSubmatch(hub.stdout.String())
	if m == nil {
		t.Fatalf("no generated admin password on stdout:\n%s", hub.stdout.String())
	}
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "examples"), os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(blocks[1:], "\n"))
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + filepath.Dir(hubBinary(t)) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + work, "HUB=" + hub.URL, "ADMIN_PASSWORD=" + m[1],
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tour failed: %v; output:\n%s\nhub stderr:\n%s", err, out, hub.stderr.String())
	}
	if !regexp.MustCompile(`(?m)^SUCCESS$`).Match(out) {
		t.Errorf("the tour did not print the run's status SUCCESS; output:\n%s", out)
	}
	if got, err := os.ReadFile(filepath.Join(work, "greeting.txt")); err != nil || string(got) != "Bom dia, Ana!\n" {
		t.Errorf("got greeting.txt %q (%v), want %q; output:\n%s", got, err, "Bom dia, Ana!\n", out)
	}
	// The SHA-256 publish answers is the one hub package printed, and the one
	// the README shows (the same folder always gives the same package).
	shaLine := regexp.MustCompile(`(?m)^sha256: +([0-9a-f]{64})$`)
	sha := shaLine.FindSubmatch(out)
	if sha == nil || !regexp.MustCompile(`(?m)^`+string(sha[1])+`$`).Match(out) {
		t.Errorf("publish did not answer the SHA-256 hub package printed; output:\n%s", out)
	} else if readme, _ := os.ReadFile("../../README.md"); string(shaLine.Find(readme)) != string(sha[0]) {
		t.Errorf("README.md shows %q, hub package printed %q: update the README", shaLine.Find(readme), sha[0])
	}
	c := login(t, hub.URL+"/api/v1", "admin", m[1])
	var runs struct {
		Items []runView `json:"items"`
	}
	if code := c.call("GET", "/runs", "", nil, &runs); code != 200 || len(runs.Items) != 1 || runs.Items[0].Status != "SUCCESS" {
		t.Errorf("GET /runs = %d %+v, want one SUCCESS run", code, runs.Items)
	}
	hub.stop(t)
}
