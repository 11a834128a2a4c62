package executor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"automationhub/internal/archive"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
	"automationhub/internal/runstate"
)

// startLabelled starts a worker with labels and concurrency.
func (e *env) startLabelled(t *testing.T, id string, concurrency int, labels ...string) *executor.Worker {
	t.Helper()
	python, _ := exec.LookPath("python3")
	w := executor.New(runstate.New(e.db, e.bus, e.blobs, runstate.Config{MaxArtifactBytes: 64 << 20, Logger: opts{}.logger()}), executor.Config{
		ID: id, Version: "test", Concurrency: concurrency, Labels: labels, LeaseDuration: 3 * time.Second, PythonExecutable: python,
		WorkDir: filepath.Join(e.work, id), Limits: archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 64 << 20},
		GracePeriod: 500 * time.Millisecond, MaxArtifactBytes: 64 << 20, BaseEnv: os.Environ(), Logger: opts{}.logger(),
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Stop(ctx)
	})
	return w
}

// TestLabelRouting runs robots that need the label sap next to robots
// that need none on two workers, one without labels (two slots) and one
// with sap (one slot), with the reconciler stopped: every run must start
// through its own ready signal, passed on by the worker that may not take
// it or sent again when the sap worker frees its slot — none may wait for
// the reconciler or a redelivery. A robot needing a label no worker has
// waits with the reason on the run, and starts once a worker with it comes
// online (the reconciler, back, signals it).
func TestLabelRouting(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := setup(t, c.dialect, c.bus, opts{noWorker: true})
			e.rec.Stop(ctx)
			pkg := map[string]string{"run.sh": "#!/bin/sh\nsleep 0.2\necho done\n"}
			in := registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"}
			sap := e.robot(t, "sap-bot", pkg, in)
			plain := e.robot(t, "plain-bot", pkg, in)
			desk := e.robot(t, "desk-bot", pkg, in)
			for id, labels := range map[string][]string{sap: {"sap"}, desk: {"desktop", "os=windows"}} {
				if _, err := e.db.SetRunSettings(ctx, id, hub.RunSettings{RetryBackoffSeconds: 60, RequiredLabels: labels}, nil, time.Now(), nil); err != nil {
					t.Fatal(err)
				}
			}
			e.startLabelled(t, "w-plain", 2)
			e.startLabelled(t, "w-sap", 1, "os=linux", "sap")

			start := time.Now()
			var sapRuns, all []string
			for range 3 {
				r := e.execute(t, sap, runs.ExecuteInput{})
				sapRuns = append(sapRuns, r.ID)
				all = append(all, r.ID)
				all = append(all, e.execute(t, plain, runs.ExecuteInput{}).ID)
			}
			for _, id := range all {
				r := e.wait(t, id, 20*time.Second)
				if r.Status != hub.RunSuccess {
					t.Fatalf("run %s ended %s (%v)", id, r.Status, r.ErrorMessage)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("six short runs took %v: a signal waited for a redelivery", d)
			}
			for _, id := range sapRuns {
				r, _ := e.db.RunByID(ctx, id)
				if r.WorkerID == nil || *r.WorkerID != "w-sap" {
					t.Errorf("sap run %s ran on %v, want w-sap", id, r.WorkerID)
				}
			}

			// No worker has the labels: the run says why.
			d := e.execute(t, desk, runs.ExecuteInput{})
			want := "no online worker with labels [desktop os=windows]"
			waitFor(t, 10*time.Second, func() bool {
				r, _ := e.db.RunByID(ctx, d.ID)
				return r.WaitingReason != nil && *r.WaitingReason == want
			})
			if r, _ := e.db.RunByID(ctx, d.ID); r.Status != hub.RunPending {
				t.Fatalf("run without a worker is %s", r.Status)
			}
			// A worker with them comes online; the reconciler signals the run.
			e.startLabelled(t, "w-desk", 1, "desktop", "os=windows", "sap")
			rec := runs.NewReconciler(e.runs)
			rec.Interval = 200 * time.Millisecond
			if err := rec.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rec.Stop(ctx) })
			r := e.wait(t, d.ID, 10*time.Second)
			if r.Status != hub.RunSuccess || r.WorkerID == nil || *r.WorkerID != "w-desk" || r.WaitingReason != nil {
				t.Errorf("desk run = %s on %v, reason %v", r.Status, r.WorkerID, r.WaitingReason)
			}
		})
	}
}

// TestPauseAndResume pauses a worker while it runs a robot: the running
// run finishes, a run queued meanwhile waits (saying why) and is not
// started however long the worker stays paused — heartbeats keep it
// PAUSED — and resuming starts it.
func TestPauseAndResume(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := setup(t, c.dialect, c.bus, opts{noWorker: true})
			e.startLabelled(t, "w1", 2)
			ops := runs.NewOps(e.db, 3*time.Second, nil)
			id := e.robot(t, "slow", map[string]string{"run.sh": "#!/bin/sh\nsleep 1\necho done\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			r1 := e.execute(t, id, runs.ExecuteInput{})
			e.wait(t, r1.ID, 10*time.Second, hub.RunRunning)
			w, err := ops.Pause(ctx, e.admin, "w1")
			if err != nil || w.Status != hub.WorkerPaused {
				t.Fatalf("pause = %+v, %v", w, err)
			}
			r2 := e.execute(t, id, runs.ExecuteInput{})
			if r := e.wait(t, r1.ID, 10*time.Second); r.Status != hub.RunSuccess {
				t.Fatalf("the run held by the paused worker ended %s", r.Status)
			}
			want := "no online worker that is not paused"
			waitFor(t, 10*time.Second, func() bool {
				r, _ := e.db.RunByID(ctx, r2.ID)
				return r.WaitingReason != nil && *r.WaitingReason == want
			})
			// Several heartbeats (every lease/3 = 1 s) and reconciler passes later.
			time.Sleep(2500 * time.Millisecond)
			if r, _ := e.db.RunByID(ctx, r2.ID); r.Status != hub.RunPending {
				t.Fatalf("a paused worker started run %s (%s)", r2.ID, r.Status)
			}
			if ws, _ := e.db.Workers(ctx); len(ws) != 1 || ws[0].Status != hub.WorkerPaused {
				t.Fatalf("workers after heartbeats = %+v", ws)
			}
			if w, err := ops.Resume(ctx, e.admin, "w1"); err != nil || w.Status != hub.WorkerRunning {
				t.Fatalf("resume = %+v, %v", w, err)
			}
			if r := e.wait(t, r2.ID, 10*time.Second); r.Status != hub.RunSuccess || r.WaitingReason != nil {
				t.Fatalf("run after resume = %s, reason %v", r.Status, r.WaitingReason)
			}
		})
	}
}
