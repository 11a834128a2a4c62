package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestClaimRoutesByLabelsAndPause checks the routing rules of the claim on
// both databases: a run goes only to an unpaused worker with every label
// its robot requires; a worker that may not take it learns whether another
// worker can (hub.ErrOtherWorker) or the run records why it waits; the
// reasons clear when a matching worker has room; heartbeats keep a paused
// worker paused.
func TestClaimRoutesByLabelsAndPause(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(t, dialect), now: time.Now().UTC().Truncate(time.Second)}
			db := f.db
			sap, sapV := f.robot(t, "sap-bot")
			plain, plainV := f.robot(t, "plain-bot")
			if _, err := db.SetRunSettings(ctx, sap, hub.RunSettings{RetryBackoffSeconds: 60, RequiredLabels: []string{"sap"}}, nil, f.now, nil); err != nil {
				t.Fatal(err)
			}
			if r, err := db.RobotByID(ctx, sap); err != nil || !cmp.Equal(r.Settings.RequiredLabels, []string{"sap"}) {
				t.Fatalf("required labels = %v, %v", r.Settings.RequiredLabels, err)
			}
			beat := func(id string, labels []string, at time.Time) {
				t.Helper()
				v := "test"
				if err := db.Heartbeat(ctx, hub.Worker{ID: id, Hostname: id, Version: &v, Concurrency: 1, StartedAt: at, LastHeartbeat: at, Labels: labels}); err != nil {
					t.Fatal(err)
				}
			}
			claim := func(runID, worker string) (string, error) {
				t.Helper()
				r, ok, err := db.ClaimRun(ctx, runID, worker, worker, f.now, f.now.Add(time.Minute))
				if err != nil || !ok {
					return "", err
				}
				return r.ID, nil
			}
			beat("w-plain", nil, f.now)
			beat("w-sap", []string{"os=linux", "sap"}, f.now)

			// A free worker with the labels is online: pass the signal on.
			s1 := f.run(t, sap, sapV, 0, f.now.Add(-3*time.Second))
			if _, err := claim(s1, "w-plain"); !errors.Is(err, hub.ErrOtherWorker) {
				t.Fatalf("claim by a worker without the label: %v, want ErrOtherWorker", err)
			}
			if got := f.reason(t, s1); got != "" {
				t.Errorf("reason after passing on = %q, want none", got)
			}
			if got, err := claim(s1, "w-sap"); err != nil || got != s1 {
				t.Fatalf("claim by the sap worker = %q, %v", got, err)
			}
			// The sap worker is busy (1/1): the run waits, saying why.
			s2 := f.run(t, sap, sapV, 0, f.now.Add(-2*time.Second))
			if got, err := claim(s2, "w-plain"); err != nil || got != "" {
				t.Fatalf("claim while the sap worker is busy = %q, %v", got, err)
			}
			if got, want := f.reason(t, s2), "waiting for a free worker with labels [sap]"; got != want {
				t.Errorf("reason = %q, want %q", got, want)
			}
			st, err := db.RunStats(ctx, f.now, time.Minute)
			if err != nil || st.Waiting[hub.WaitWorker] != 1 {
				t.Errorf("runs waiting for a worker = %v, %v; want 1", st.Waiting, err)
			}
			if ids, err := db.RoutableRuns(ctx, f.now, 10); err != nil || len(ids) != 0 {
				t.Errorf("routable runs while the sap worker is busy = %v, %v", ids, err)
			}
			// The end of s1 frees the sap worker: s2 is signalled.
			if ok, err := db.FinishRun(ctx, s1, "w-sap", hub.RunResult{Status: hub.RunSuccess, FinishedAt: f.now}, nil, nil); err != nil || !ok {
				t.Fatalf("finish: %v %v", ok, err)
			}
			if ids, err := db.WaitingBehind(ctx, s1, f.now, 4); err != nil || !cmp.Equal(ids, []string{s2}) {
				t.Errorf("waiting behind the finished run = %v, %v; want [%s]", ids, err, s2)
			}
			if ids, err := db.RoutableRuns(ctx, f.now, 10); err != nil || !cmp.Equal(ids, []string{s2}) {
				t.Errorf("routable runs = %v, %v; want [%s]", ids, err, s2)
			}
			// The sap worker goes silent: no online worker has the label.
			beat("w-sap", []string{"os=linux", "sap"}, f.now.Add(-2*time.Minute))
			if got, err := claim(s2, "w-plain"); err != nil || got != "" {
				t.Fatalf("claim with no sap worker online = %q, %v", got, err)
			}
			if got, want := f.reason(t, s2), "no online worker with labels [sap]"; got != want {
				t.Errorf("reason = %q, want %q", got, want)
			}
			if ids, err := db.RoutableRuns(ctx, f.now, 10); err != nil || len(ids) != 0 {
				t.Errorf("routable runs with no sap worker online = %v, %v", ids, err)
			}
			// It comes back: the run is routable and its claim clears the reason.
			beat("w-sap", []string{"os=linux", "sap"}, f.now)
			if ids, err := db.RoutableRuns(ctx, f.now, 10); err != nil || !cmp.Equal(ids, []string{s2}) {
				t.Errorf("routable runs after the sap worker is back = %v, %v", ids, err)
			}
			if got, err := claim(s2, "w-sap"); err != nil || got != s2 {
				t.Fatalf("claim by the returned sap worker = %q, %v", got, err)
			}
			if got := f.reason(t, s2); got != "" {
				t.Errorf("reason after the claim = %q, want none", got)
			}

			// Pause: heartbeats keep it; a paused worker claims nothing.
			w, err := db.SetWorkerStatus(ctx, "w-plain", hub.WorkerPaused, func(*hub.Worker) *hub.AuditEvent { return nil })
			if err != nil || w.Status != hub.WorkerPaused || w.ID != "w-plain" {
				t.Fatalf("pause = %+v, %v", w, err)
			}
			beat("w-plain", nil, f.now)
			p1 := f.run(t, plain, plainV, 0, f.now.Add(-time.Second))
			// w-sap is busy with s2: nobody may take p1.
			if got, err := claim(p1, "w-plain"); !errors.Is(err, hub.ErrWorkerPaused) || errors.Is(err, hub.ErrOtherWorker) || got != "" {
				t.Fatalf("claim by a paused worker = %q, %v; want ErrWorkerPaused alone", got, err)
			}
			if got, want := f.reason(t, p1), "waiting for a free worker that is not paused"; got != want {
				t.Errorf("reason = %q, want %q", got, want)
			}
			ws, err := db.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]hub.Worker{}
			for _, w := range ws {
				got[w.ID] = w
			}
			if got["w-plain"].Status != hub.WorkerPaused || !cmp.Equal(got["w-plain"].Labels, []string{}) ||
				!cmp.Equal(got["w-sap"].Labels, []string{"os=linux", "sap"}) {
				t.Errorf("workers = %+v", ws)
			}
			// Once the sap worker has room, the paused worker passes p1 on.
			if ok, err := db.FinishRun(ctx, s2, "w-sap", hub.RunResult{Status: hub.RunSuccess, FinishedAt: f.now}, nil, nil); err != nil || !ok {
				t.Fatalf("finish: %v %v", ok, err)
			}
			if _, err := claim(p1, "w-plain"); !errors.Is(err, hub.ErrWorkerPaused) || !errors.Is(err, hub.ErrOtherWorker) {
				t.Fatalf("claim by a paused worker with another free = %v; want ErrWorkerPaused and ErrOtherWorker", err)
			}
			if _, err := db.SetWorkerStatus(ctx, "w-plain", hub.WorkerRunning, func(*hub.Worker) *hub.AuditEvent { return nil }); err != nil {
				t.Fatal(err)
			}
			if st, err := db.WorkerStatus(ctx, "w-plain"); err != nil || st != hub.WorkerRunning {
				t.Errorf("status after resume = %q, %v", st, err)
			}
			if got, err := claim(p1, "w-plain"); err != nil || got != p1 {
				t.Fatalf("claim after resume = %q, %v", got, err)
			}
			// A stopped worker is not brought back to RUNNING by a resume
			// (it would show a dead worker as running); the row is unchanged.
			if err := db.Heartbeat(ctx, hub.Worker{ID: "w-stopped-resume", Hostname: "h", Status: hub.WorkerRunning, StartedAt: f.now, LastHeartbeat: f.now}); err != nil {
				t.Fatal(err)
			}
			if err := db.WorkerStopped(ctx, "w-stopped-resume", f.now); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetWorkerStatus(ctx, "w-stopped-resume", hub.WorkerRunning, func(*hub.Worker) *hub.AuditEvent { return nil }); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("resuming a stopped worker: %v, want EConflict", err)
			}
			if st, err := db.WorkerStatus(ctx, "w-stopped-resume"); err != nil || st != hub.WorkerStopped {
				t.Errorf("status after a refused resume = %q, %v; want STOPPED", st, err)
			}
			if _, err := db.SetWorkerStatus(ctx, "nobody", hub.WorkerPaused, func(*hub.Worker) *hub.AuditEvent { return nil }); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("pausing an unknown worker: %v, want ENotFound", err)
			}
			// A worker without a row yet counts as running and unlabelled.
			p2 := f.run(t, plain, plainV, 0, f.now)
			if got, err := claim(p2, "fresh"); err != nil || got != p2 {
				t.Errorf("claim by a worker without a row = %q, %v", got, err)
			}
		})
	}
}
