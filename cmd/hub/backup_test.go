package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// backupLoadRobot writes 200 log lines and two output files that name its
// run, so that every run's log and files differ from every other's.
const backupLoadRobot = `#!/bin/sh
i=1
while [ $i -le 200 ]; do echo "line $i of $HUB_RUN_ID"; i=$((i+1)); [ $i = 100 ] && sleep 0.2; done
printf 'output of %s\n' "$HUB_RUN_ID" > "$HUB_OUTPUT_DIR/out.txt"
i=0
while [ $i -lt 2000 ]; do echo "$HUB_RUN_ID,$i"; i=$((i+1)); done > "$HUB_OUTPUT_DIR/data.csv"
sleep 0.2
`

// runRecord is what a test remembers of a finished run.
type runRecord struct {
	status string
	log    []string
	files  map[string]string
}

// record reads a run's status, whole log and every output file.
func (c *hubClient) record(runID string) runRecord {
	c.t.Helper()
	var run struct {
		Status    string `json:"status"`
		Artifacts []struct {
			ID   string `json:"id"`
			Name string `json:"artifact_name"`
		} `json:"artifacts"`
	}
	if code := c.call("GET", "/runs/"+runID, "", nil, &run); code != 200 {
		c.t.Fatalf("GET run %s: %d", runID, code)
	}
	rec := runRecord{status: run.Status, log: c.logMessages(runID), files: map[string]string{}}
	for _, a := range run.Artifacts {
		rec.files[a.Name] = c.download(runID, a.ID)
	}
	return rec
}

// download fetches one output file; it fails the test unless it answers 200.
func (c *hubClient) download(runID, artifactID string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/runs/"+runID+"/artifacts/"+artifactID+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("download artifact %s of run %s: %d %v, want 200", artifactID, runID, resp.StatusCode, err)
	}
	return string(b)
}

// execute starts a run of the robot and returns its id.
func (c *hubClient) execute(robotID string) string {
	c.t.Helper()
	var run runView
	if code := c.call("POST", "/runs/"+robotID+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		c.t.Fatalf("execute: %d, want 202", code)
	}
	return run.RunID
}

// TestBackupAndRestoreWhileRunsGoOn backs up a hub started as the quick
// start does (relative ./data) while runs produce log lines and output
// files, restores the archive into a fresh folder and starts a hub there:
// every run that had finished when the backup began is there with its
// whole log and its files, which download unchanged; every other run in
// the restored hub has a gapless log, and each of its files downloads or
// was listed by restore as missing.
func TestBackupAndRestoreWhileRunsGoOn(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell robots and signals")
	}
	t.Parallel()
	dir := t.TempDir()
	env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "WORKER_CONCURRENCY=4"}
	src := runHubProcess(t, dir, nil, append(env, "HUB_ADDR=127.0.0.1:0")...)
	api := src.waitFor(t, "running at ") + "/api/v1"
	m := adminPasswordLine.FindStringSubmatch(src.stdout.String())
	if m == nil {
		t.Fatalf("no admin password:\n%s", src.stdout.String())
	}
	password := m[1]
	c := login(t, api, "admin", password)
	robot := c.shellRobot("backup-load", backupLoadRobot)

	// Runs that finish before the backup begins.
	const before = 12
	var done []string
	for range before {
		done = append(done, c.execute(robot))
	}
	want := map[string]runRecord{}
	for _, id := range done {
		if r := c.waitRun(id, 2*time.Minute); r.Status != "SUCCESS" {
			t.Fatalf("run %s: %s (%s)", id, r.Status, deref(r.ErrorMessage))
		}
		want[id] = c.record(id)
	}

	// More runs are under way, and start, while the backup runs.
	for range 16 {
		c.execute(robot)
	}
	stop := make(chan struct{})
	var (
		mu     sync.Mutex
		during []string
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; i < 60; i++ {
			id := c.execute(robot)
			mu.Lock()
			during = append(during, id)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		var list struct {
			Total int `json:"total"`
		}
		c.call("GET", "/runs?status=RUNNING&limit=1", "", nil, &list)
		if list.Total > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no run started running within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	archive := filepath.Join(t.TempDir(), "hub-backup.tar.gz")
	began := time.Now()
	r := runHubCommand(t, dir, "", []string{"backup", "--out", archive}, env...)
	took := time.Since(began)
	close(stop)
	wg.Wait()
	r.want(t, "hub backup", 0)
	if !strings.Contains(r.stdout, "backup written: "+archive) {
		t.Errorf("hub backup printed:\n%s", r.stdout)
	}
	t.Logf("backup during the load: %s; %s", took.Round(time.Millisecond), strings.SplitN(r.stdout, "\n", 2)[0])
	for _, id := range during {
		c.waitRun(id, 2*time.Minute)
	}
	src.stop(t)

	// Restore into a fresh folder, as a new host would.
	dst := t.TempDir()
	r = runHubCommand(t, dst, "", []string{"restore", archive}, env...)
	r.want(t, "hub restore", 0)
	if !strings.Contains(r.stdout, "files verified") {
		t.Errorf("hub restore printed:\n%s", r.stdout)
	}
	runHubCommand(t, dst, "", []string{"restore", archive}, env...).want(t, "restore over the restored data", 1, "not empty", "--force")

	restored := runHubProcess(t, dst, nil, append(env, "HUB_ADDR=127.0.0.1:0")...)
	c2 := login(t, restored.waitFor(t, "running at ")+"/api/v1", "admin", password)
	for _, id := range done {
		got := c2.record(id)
		w := want[id]
		if got.status != w.status || !slices.Equal(got.log, w.log) || fmt.Sprint(got.files) != fmt.Sprint(w.files) {
			t.Errorf("run %s after restore: status %s (want %s), %d log lines (want %d), files equal %v",
				id, got.status, w.status, len(got.log), len(w.log), fmt.Sprint(got.files) == fmt.Sprint(w.files))
		}
		if !strings.Contains(w.files["out.txt"], id) || !strings.HasPrefix(w.files["data.csv"], id+",0\n") {
			t.Errorf("run %s had files %v before the backup, want out.txt and data.csv naming it", id, slices.Sorted(maps.Keys(w.files)))
		}
	}
	var all struct {
		Items []struct {
			RunID  string `json:"run_id"`
			Status string `json:"status"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if code := c2.call("GET", "/runs?limit=200", "", nil, &all); code != 200 || all.Total != len(all.Items) {
		t.Fatalf("list runs: %d, %d of %d", code, len(all.Items), all.Total)
	}
	if all.Total < before {
		t.Fatalf("the restored hub has %d runs, want at least %d", all.Total, before)
	}
	statuses := map[string]int{}
	for _, it := range all.Items {
		statuses[it.Status]++
		var lines []struct {
			Seq int64 `json:"seq"`
		}
		c2.call("GET", "/runs/"+it.RunID+"/logs?limit=5000", "", nil, &lines)
		for i, l := range lines {
			if l.Seq != int64(i+1) {
				t.Errorf("run %s: log line %d has seq %d: a gap", it.RunID, i+1, l.Seq)
				break
			}
		}
		var run struct {
			Artifacts []struct {
				ID   string `json:"id"`
				Path string `json:"file_path"`
			} `json:"artifacts"`
		}
		c2.call("GET", "/runs/"+it.RunID, "", nil, &run)
		for _, a := range run.Artifacts {
			if strings.Contains(r.stdout, a.Path) {
				continue // listed by restore as missing
			}
			c2.download(it.RunID, a.ID)
		}
	}
	t.Logf("restored hub: %d runs by status %v (%d finished before the backup, 16 under way and %d started around it)", all.Total, statuses, before, len(during))
	restored.stop(t)
}

// TestBackupOnPostgresArchivesTheArtifactFolder backs up a hub on
// PostgreSQL (hub all on DATABASE_URL) whose artifact folder lost a file:
// the archive holds the artifact folder only, the command says the database
// needs pg_dump and lists the row whose file is gone; restore into a fresh
// artifact folder puts the files back and lists the same row.
func TestBackupOnPostgresArchivesTheArtifactFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell robots and signals")
	}
	t.Parallel()
	db := hubtest.DatabaseConfig(t, config.Postgres)
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "DATABASE_URL=" + db.DSN, "ARTIFACTS_ROOT=" + artifacts,
		"DEFAULT_ADMIN_PASSWORD=first-admin-password"}
	dir := t.TempDir()
	src := runHubProcess(t, dir, nil, append(env, "HUB_ADDR=127.0.0.1:0")...)
	c := login(t, src.waitFor(t, "running at ")+"/api/v1", "admin", "first-admin-password")
	robot := c.shellRobot("pg-backup", backupLoadRobot)
	id := c.execute(robot)
	if r := c.waitRun(id, time.Minute); r.Status != "SUCCESS" {
		t.Fatalf("run: %s", r.Status)
	}
	src.stop(t)
	lost, err := filepath.Glob(filepath.Join(artifacts, "runs", id, "*", "out.txt"))
	if err != nil || len(lost) != 1 {
		t.Fatalf("out.txt of the run: %v %v", lost, err)
	}
	if err := os.Remove(lost[0]); err != nil {
		t.Fatal(err)
	}
	key, _ := filepath.Rel(artifacts, lost[0])

	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	r := runHubCommand(t, dir, "", []string{"backup", "--out", archive}, env...)
	r.want(t, "backup", 0)
	for _, s := range []string{"NOT in this archive", "pg_dump", "1 rows name files", filepath.ToSlash(key)} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("backup output lacks %q:\n%s", s, r.stdout)
		}
	}
	names := archiveNames(t, archive)
	if slices.Contains(names, backupDatabaseName) || !slices.Contains(names, backupManifestName) {
		t.Errorf("archive entries %v: want a manifest and no database", names)
	}

	// The database stays (as after pg_restore); the artifact folder is new.
	env2 := append(slices.Clone(env[:len(env)-2]), "ARTIFACTS_ROOT="+filepath.Join(t.TempDir(), "restored"))
	r = runHubCommand(t, t.TempDir(), "", []string{"restore", archive}, env2...)
	r.want(t, "restore", 0)
	for _, s := range []string{"pg_restore", "1 rows name files that are not in the backup", filepath.ToSlash(key)} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("restore output lacks %q:\n%s", s, r.stdout)
		}
	}
	// A SQLite data folder cannot take a PostgreSQL backup.
	runHubCommand(t, t.TempDir(), "", []string{"restore", archive}, "ENVIRONMENT=test").want(t, "restore into SQLite", 1, "settings select SQLite")
}

// archiveNames lists the entries of a tar.gz archive.
func archiveNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// rewriteArchive copies a tar.gz archive entry by entry through edit, which
// may change an entry's header and content or drop it (nil header), and
// append entries at the end (called with a nil header once).
func rewriteArchive(t *testing.T, src, dst string, edit func(h *tar.Header, body []byte) (*tar.Header, []byte)) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	gw := gzip.NewWriter(out)
	tw := tar.NewWriter(gw)
	write := func(h *tar.Header, body []byte) {
		if h == nil {
			return
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		write(edit(h, body))
	}
	write(edit(nil, nil))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreRefusesBadArchives restores archives that were damaged,
// altered or crafted to escape the data folder: each is refused with a
// reason, and the data folder stays empty.
func TestRestoreRefusesBadArchives(t *testing.T) {
	t.Parallel()
	env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}
	dir := t.TempDir()
	runHubCommand(t, dir, "", []string{"migrate"}, env...).want(t, "migrate", 0)
	if err := os.MkdirAll(filepath.Join(dir, "data", "artifacts", "runs", "r1"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "artifacts", "runs", "r1", "out.txt"), []byte("the output"), 0o640); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "good.tar.gz")
	runHubCommand(t, dir, "", []string{"backup", "--out", good}, env...).want(t, "backup", 0)
	runHubCommand(t, dir, "", []string{"backup", "--out", good}, env...).want(t, "backup over an archive", 1, "--force")
	runHubCommand(t, dir, "", []string{"backup", "--out", "data/artifacts/b.tar.gz"}, env...).want(t, "backup into itself", 1, "inside the artifact folder")
	runHubCommand(t, dir, "", []string{"backup"}, env...).want(t, "backup without --out", 2, "--out FILE")

	const outKey = "artifacts/runs/r1/out.txt"
	tests := []struct {
		name string
		edit func(h *tar.Header, body []byte) (*tar.Header, []byte)
		want string
	}{
		{"altered file", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == outKey {
				return h, []byte("THE output")
			}
			return h, b
		}, "does not match its checksum"},
		{"file dropped", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == outKey {
				return nil, nil
			}
			return h, b
		}, "missing from the archive"},
		{"no manifest", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == backupManifestName {
				return nil, nil
			}
			return h, b
		}, "no manifest"},
		{"extra file", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h == nil {
				return &tar.Header{Name: "artifacts/runs/r1/extra.txt", Typeflag: tar.TypeReg, Mode: 0o600}, []byte("x")
			}
			return h, b
		}, "not listed in the manifest"},
		{"parent segment", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == outKey {
				h.Name = "artifacts/../../escape.txt"
			}
			return h, b
		}, "not a clean relative path"},
		{"absolute path", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == outKey {
				h.Name = "/tmp/escape.txt"
			}
			return h, b
		}, "not a clean relative path"},
		{"symbolic link", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h == nil {
				return &tar.Header{Name: "artifacts/runs/link", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, nil
			}
			return h, b
		}, "only regular files"},
		{"unknown folder", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == outKey {
				h.Name = "etc/out.txt"
			}
			return h, b
		}, "a backup holds only"},
		{"newer schema", func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h != nil && h.Name == backupManifestName {
				return h, []byte(strings.Replace(string(b), `"schema_version": `, `"schema_version": 99`, 1))
			}
			return h, b
		}, "knows migrations only up to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := filepath.Join(t.TempDir(), "bad.tar.gz")
			rewriteArchive(t, good, bad, tt.edit)
			target := t.TempDir()
			runHubCommand(t, target, "", []string{"restore", bad}, env...).want(t, "restore", 1, tt.want)
			for _, p := range []string{"data/hub.db", "data/artifacts/runs", "escape.txt", "../escape.txt"} {
				if _, err := os.Lstat(filepath.Join(target, p)); err == nil {
					t.Errorf("%s exists after a refused restore", p)
				}
			}
		})
	}
	t.Run("not an archive", func(t *testing.T) {
		t.Parallel()
		junk := filepath.Join(t.TempDir(), "junk.tar.gz")
		os.WriteFile(junk, []byte("not gzip"), 0o600)
		runHubCommand(t, t.TempDir(), "", []string{"restore", junk}, env...).want(t, "restore", 1, "not a backup archive")
	})
	t.Run("good archive", func(t *testing.T) {
		t.Parallel()
		target := t.TempDir()
		runHubCommand(t, target, "", []string{"restore", good}, env...).want(t, "restore", 0)
		if b, err := os.ReadFile(filepath.Join(target, "data", "artifacts", "runs", "r1", "out.txt")); err != nil || string(b) != "the output" {
			t.Errorf("restored out.txt = %q, %v", b, err)
		}
		runHubCommand(t, target, "", []string{"restore", good, "--force"}, env...).want(t, "restore --force", 0)
	})
}
