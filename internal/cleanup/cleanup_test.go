package cleanup_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/blob"
	"automationhub/internal/cleanup"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

type fixture struct {
	db      *sqlstore.DB
	blobs   *blob.Local
	work    string
	clock   *clock
	robot   string
	version string
	cleaner *cleanup.Cleaner
}

var base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, dialect string) *fixture {
	t.Helper()
	db := hubtest.Store(t, dialect)
	blobs, err := blob.NewLocal(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, blobs: blobs, work: t.TempDir(), clock: &clock{now: base}}
	ctx := context.Background()
	r := &hub.Robot{ID: uuid.NewString(), Name: "r", Tags: []string{}, CreatedAt: base, UpdatedAt: base}
	key := "robots/x/1.0.0/artifact.zip"
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user", RequiredEnvKeys: []string{}, CreatedAt: base, IsActive: true}
	if err := db.CreateRobot(ctx, r, v, nil); err != nil {
		t.Fatal(err)
	}
	f.robot, f.version = r.ID, v.ID
	f.cleaner = cleanup.New(db, blobs, cleanup.Config{LogRetention: 30 * 24 * time.Hour, ArtifactRetention: 60 * 24 * time.Hour,
		CacheRetention: 7 * 24 * time.Hour, WorkDir: f.work, BatchSize: 100, Clock: f.clock, WorkerID: "w-here"})
	return f
}

// run creates a run queued at `at` with n log lines at `at`, one artifact
// file, finished (or left RUNNING).
func (f *fixture) run(t *testing.T, at time.Time, n int, finish bool) (string, hub.Artifact) {
	t.Helper()
	ctx := context.Background()
	r := &hub.Run{ID: uuid.NewString(), RobotID: f.robot, VersionID: f.version, Status: hub.RunPending, TriggerType: "MANUAL", Attempt: 1,
		EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60, QueuedAt: at}
	if err := f.db.CreateRun(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.db.ClaimRun(ctx, r.ID, "w", "h", at, at.Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	lines := make([]hub.LogLine, n)
	for i := range lines {
		lines[i] = hub.LogLine{RunID: r.ID, Seq: int64(i + 1), Timestamp: at, Level: "INFO", Message: "x"}
	}
	if err := f.db.AppendLogs(ctx, lines); err != nil {
		t.Fatal(err)
	}
	up, _ := f.blobs.Create(0)
	up.Write([]byte("artifact of " + r.ID))
	key := "runs/" + r.ID + "/outputs/out.txt"
	if err := up.Commit(key, false); err != nil {
		t.Fatal(err)
	}
	a := hub.Artifact{ID: uuid.NewString(), RunID: r.ID, Name: "out.txt", Path: key, Size: up.Size(), CreatedAt: at}
	if finish {
		if ok, err := f.db.FinishRun(ctx, r.ID, "w", hub.RunResult{Status: hub.RunSuccess, FinishedAt: at}, nil, []hub.Artifact{a}); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	return r.ID, a
}

func (f *fixture) logCount(t *testing.T, runID string) int {
	lines, err := f.db.RunLogs(context.Background(), runID, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return len(lines)
}

func (f *fixture) exists(key string) bool {
	_, _, err := f.blobs.Stat(key)
	return err == nil
}

func TestRetention(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			old, oldArt := f.run(t, base.Add(-90*24*time.Hour), 250, true)    // logs and artifact expired
			mid, midArt := f.run(t, base.Add(-45*24*time.Hour), 10, true)     // logs expired, artifact kept
			recent, recArt := f.run(t, base.Add(-1*24*time.Hour), 10, true)   // everything kept
			running, runArt := f.run(t, base.Add(-90*24*time.Hour), 7, false) // not finished: never touched

			dry, err := f.cleaner.Pass(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if dry.Kinds[cleanup.KindLogs].Rows != 260 || dry.Kinds[cleanup.KindArtifacts].Rows != 1 || dry.Kinds[cleanup.KindArtifacts].Bytes != oldArt.Size {
				t.Errorf("dry run = logs %+v artifacts %+v", dry.Kinds[cleanup.KindLogs], dry.Kinds[cleanup.KindArtifacts])
			}
			if f.logCount(t, old) != 250 || !f.exists(oldArt.Path) {
				t.Fatal("the dry run changed something")
			}

			rep, err := f.cleaner.Pass(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kinds[cleanup.KindLogs].Rows != 260 || rep.Kinds[cleanup.KindArtifacts].Rows != 1 || rep.Kinds[cleanup.KindArtifacts].Files != 1 {
				t.Errorf("report = logs %+v artifacts %+v", rep.Kinds[cleanup.KindLogs], rep.Kinds[cleanup.KindArtifacts])
			}
			for _, c := range []struct {
				run  string
				want int
			}{{old, 0}, {mid, 0}, {recent, 10}, {running, 7}} {
				if got := f.logCount(t, c.run); got != c.want {
					t.Errorf("run %s: %d log lines left, want %d", c.run, got, c.want)
				}
			}
			if f.exists(oldArt.Path) || !f.exists(midArt.Path) || !f.exists(recArt.Path) || !f.exists(runArt.Path) {
				t.Error("wrong artifact files removed")
			}
			if r, _ := f.db.RunByID(ctx, old); len(r.Artifacts) != 0 {
				t.Errorf("expired artifact row kept: %+v", r.Artifacts)
			}
			if r, _ := f.db.RunByID(ctx, mid); len(r.Artifacts) != 1 {
				t.Error("artifact within retention removed")
			}
			// A second pass finds nothing.
			again, _ := f.cleaner.Pass(ctx, false)
			if it := again.Kinds[cleanup.KindLogs]; it != nil && it.Rows != 0 {
				t.Errorf("second pass removed %d more log rows", it.Rows)
			}
		})
	}
}

func TestCrashBetweenRowsAndFiles(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			_, a := f.run(t, base.Add(-90*24*time.Hour), 1, true)
			// The rows go (with their journal entries), then the process "crashes".
			if err := f.db.DeleteArtifacts(ctx, []hub.Artifact{a}, base); err != nil {
				t.Fatal(err)
			}
			if !f.exists(a.Path) {
				t.Fatal("file removed too early")
			}
			if pending, _ := f.db.PendingFileDeletions(ctx, 10); len(pending) != 1 {
				t.Fatalf("journal = %v", pending)
			}
			if _, err := f.cleaner.Pass(ctx, false); err != nil {
				t.Fatal(err)
			}
			if f.exists(a.Path) {
				t.Error("the next pass did not remove the orphaned file")
			}
			if pending, _ := f.db.PendingFileDeletions(ctx, 10); len(pending) != 0 {
				t.Errorf("journal not emptied: %v", pending)
			}
		})
	}
}

func TestLocalSweepAndLock(t *testing.T) {
	f := setup(t, hubtest.Dialects()[0])
	ctx := context.Background()
	done, _ := f.run(t, base, 1, true)
	busy, _ := f.run(t, base, 1, false)
	for _, id := range []string{done, busy, uuid.NewString()} {
		os.MkdirAll(filepath.Join(f.work, "runs", id, "workspace"), 0o750)
		os.WriteFile(filepath.Join(f.work, "runs", id, "workspace", "f"), []byte("data"), 0o640)
	}
	oldCache, newCache := filepath.Join(f.work, "cache", "v-old"), filepath.Join(f.work, "cache", "v-new")
	os.MkdirAll(oldCache, 0o750)
	os.MkdirAll(newCache, 0o750)
	os.WriteFile(filepath.Join(oldCache, "main.py"), []byte("x"), 0o640)
	os.Chtimes(oldCache, base.Add(-30*24*time.Hour), base.Add(-30*24*time.Hour))
	os.Chtimes(newCache, base.Add(-time.Hour), base.Add(-time.Hour))
	// Python environments: the pointer file's time is the last use.
	envs := filepath.Join(f.work, "pyenv")
	for name, used := range map[string]time.Time{"oldenv": base.Add(-30 * 24 * time.Hour), "newenv": base.Add(-time.Hour)} {
		os.MkdirAll(filepath.Join(envs, name+"-1", "bin"), 0o755)
		os.WriteFile(filepath.Join(envs, name+"-1", "bin", "python"), []byte("x"), 0o755)
		os.WriteFile(filepath.Join(envs, name+".json"), []byte(`{"key":"`+name+`","dir":"`+name+`-1","bytes":1}`), 0o644)
		os.Chtimes(filepath.Join(envs, name+".json"), used, used)
	}
	// This host's worker and another one report the old environment.
	for _, worker := range []string{"w-here", "w-other"} {
		if err := f.db.EnvironmentReady(ctx, hub.WorkerEnv{WorkerID: worker, VersionID: f.version, Key: "oldenv", Status: hub.EnvReady, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	up, _ := f.blobs.Create(0)
	up.Write([]byte("half an upload"))
	left, _ := f.blobs.Leftovers(0)
	for _, p := range left {
		os.Chtimes(p, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour))
	}

	// Another process holds the lock: the database part is skipped.
	unlock, ok, err := f.db.TryLock(ctx, "cleanup", time.Hour)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	rep, err := f.cleaner.Pass(ctx, false)
	unlock()
	if err != nil || !rep.Skipped {
		t.Fatalf("pass with the lock held: %+v %v", rep, err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{filepath.Join(f.work, "runs", done), false}, {filepath.Join(f.work, "runs", busy), true},
		{oldCache, false}, {newCache, true},
		{filepath.Join(envs, "oldenv-1"), false}, {filepath.Join(envs, "oldenv.json"), false}, {filepath.Join(envs, "newenv-1"), true},
	} {
		if _, err := os.Stat(c.path); (err == nil) != c.want {
			t.Errorf("%s exists = %v, want %v", c.path, err == nil, c.want)
		}
	}
	if rest, _ := f.blobs.Leftovers(0); len(rest) != 0 {
		t.Errorf("upload leftovers kept: %v", rest)
	}
	if rep.Kinds[cleanup.KindUploads].Files != 1 || rep.Kinds[cleanup.KindCache].Files != 1 || rep.Kinds[cleanup.KindPythonEnv] == nil || rep.Kinds[cleanup.KindPythonEnv].Files != 1 {
		t.Errorf("report = %+v %+v", rep.Kinds[cleanup.KindUploads], rep.Kinds[cleanup.KindCache])
	}
	// This host's worker no longer reports the removed environment; the
	// other worker's report stays.
	if envs, err := f.db.VersionEnvironments(ctx, f.version); err != nil || len(envs) != 1 || envs[0].WorkerID != "w-other" {
		t.Errorf("reports after the sweep = %+v, %v; want w-other's alone", envs, err)
	}
	// The lock is free again: the next pass does the database part.
	if rep, _ := f.cleaner.Pass(ctx, false); rep.Skipped {
		t.Error("lock not released")
	}
}

// TestMillionOldLogRows deletes expired log lines in batches while another
// run keeps writing, and reports the rate: 1 000 000 rows with
// HUB_TEST_LONG=1 (CI, without the race detector), 20 000 otherwise.
func TestMillionOldLogRows(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts a million rows")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			old, _ := f.run(t, base.Add(-90*24*time.Hour), 0, true)
			n := 20_000
			if hubtest.Long() && !raceEnabled {
				n = 1_000_000
			}
			gen := `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
				INSERT INTO run_logs (run_id, seq, "timestamp", level, message) SELECT ?, i, ?, 'INFO', 'old line' FROM s`
			args := []any{n, old, base.Add(-90 * 24 * time.Hour)}
			if dialect == "postgres" {
				gen = `INSERT INTO run_logs (run_id, seq, "timestamp", level, message) SELECT ?, i, ?, 'INFO', 'old line' FROM generate_series(1, ?) AS i`
				args = []any{old, base.Add(-90 * 24 * time.Hour), n}
			}
			if _, err := f.db.Conn().Exec(ctx, gen, args...); err != nil {
				t.Fatal(err)
			}
			live, _ := f.run(t, base, 0, false)
			stop := make(chan struct{})
			var written atomic.Int64
			var writeErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				for seq := int64(1); ; seq += 100 {
					select {
					case <-stop:
						return
					default:
					}
					batch := make([]hub.LogLine, 100)
					for i := range batch {
						batch[i] = hub.LogLine{RunID: live, Seq: seq + int64(i), Timestamp: base, Level: "INFO", Message: "live"}
					}
					if err := f.db.AppendLogs(ctx, batch); err != nil {
						writeErr = err
						return
					}
					written.Add(100)
				}
			})
			c := cleanup.New(f.db, f.blobs, cleanup.Config{LogRetention: 30 * 24 * time.Hour, ArtifactRetention: 60 * 24 * time.Hour, BatchSize: 5000, Clock: f.clock})
			start := time.Now()
			rep, err := c.Pass(ctx, false)
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if writeErr != nil {
				t.Errorf("a run writing logs during cleanup failed: %v", writeErr)
			}
			if got := rep.Kinds[cleanup.KindLogs].Rows; got != int64(n) {
				t.Errorf("deleted %d rows, want %d", got, n)
			}
			if left := f.logCount(t, old); left != 0 {
				t.Errorf("%d old rows left", left)
			}
			if got := int64(f.logCount(t, live)); got != written.Load() {
				t.Errorf("live run has %d lines, %d were written", got, written.Load())
			}
			t.Logf("%s: deleted %d rows in %v (%.0f rows/s, batches of 5000) while %d lines were written",
				dialect, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), written.Load())
		})
	}
}
