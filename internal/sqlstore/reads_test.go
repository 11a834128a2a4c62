package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/seed"
	"automationhub/internal/sqlstore"
)

// seeded returns a migrated store holding runs finished runs over robots
// robots (as `hub dev seed` writes them), and the robots' ids.
func seeded(t *testing.T, dialect string, runs, robots, services int) (*sqlstore.DB, []string) {
	t.Helper()
	db := hubtest.Store(t, dialect)
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Run(context.Background(), db, blobs, seed.Options{Runs: runs, Robots: robots, Services: services,
		LogLines: 1, ArtifactEvery: 7, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := db.SQL().Query(`SELECT id FROM robots ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return db, ids
}

// countsFromTable counts runs by robot and status the slow way.
func countsFromTable(t *testing.T, db *sqlstore.DB) map[string]int64 {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT robot_id, status, COUNT(*) FROM runs GROUP BY robot_id, status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var robot, status string
		var n int64
		if err := rows.Scan(&robot, &status, &n); err != nil {
			t.Fatal(err)
		}
		out[robot+"/"+status] = n
	}
	return out
}

// countsFromCounters reads the same figures through the store's counted
// totals (per robot and status, as the runs list asks for them).
func countsFromCounters(t *testing.T, db *sqlstore.DB, robots []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range robots {
		for _, st := range []string{hub.RunPending, hub.RunRunning, hub.RunSuccess, hub.RunFailed, hub.RunCanceled} {
			_, info, err := db.ListRuns(context.Background(), hub.RunFilter{RobotID: r, Status: st, Scope: hub.RobotScope{All: true}, Page: hub.Page{Limit: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if !info.Exact {
				t.Fatalf("robot and status filter: total not exact")
			}
			if info.Total != 0 {
				out[r+"/"+st] = int64(info.Total)
			}
		}
	}
	return out
}

func TestRunCountersFollowEveryChange(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, robots := seeded(t, dialect, 200, 4, 2)
			var versions []string
			for _, r := range robots {
				v, err := db.ActiveVersion(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				versions = append(versions, v.ID)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			now := time.Now().UTC()
			var pending, running []string
			for i := range 120 {
				k := rng.IntN(len(robots))
				switch op := rng.IntN(6); {
				case op <= 1 || len(pending)+len(running) == 0:
					r := &hub.Run{ID: uuid.NewString(), RobotID: robots[k], VersionID: versions[k], Status: hub.RunPending, TriggerType: "MANUAL",
						Attempt: 1, EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60,
						QueuedAt: now.Add(time.Duration(i) * time.Millisecond)}
					if err := db.CreateRun(ctx, r, nil); err != nil {
						t.Fatal(err)
					}
					pending = append(pending, r.ID)
				case op == 2 && len(pending) > 0:
					id := pending[0]
					pending = pending[1:]
					if _, ok, err := db.ClaimRun(ctx, id, "w1", "host", now, now.Add(time.Minute)); err != nil || !ok {
						t.Fatalf("claim: %v %v", ok, err)
					}
					running = append(running, id)
				case op == 3 && len(running) > 0:
					id := running[0]
					running = running[1:]
					if ok, err := db.FinishRun(ctx, id, "w1", hub.RunResult{Status: hub.RunSuccess, FinishedAt: now}, nil, nil); err != nil || !ok {
						t.Fatalf("finish: %v %v", ok, err)
					}
				case op == 4 && len(pending) > 0:
					id := pending[len(pending)-1]
					pending = pending[:len(pending)-1]
					if _, err := db.RequestCancel(ctx, id, nil, now, nil); err != nil {
						t.Fatal(err)
					}
				case op == 5 && len(running) > 0:
					id := running[len(running)-1]
					running = running[:len(running)-1]
					if err := db.FailRun(ctx, id, "worker lost", "lost", now); err != nil {
						t.Fatal(err)
					}
				}
				if i%40 == 39 {
					if _, err := db.FoldRunCounts(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A statement that deletes many runs at once (an operator's
			// manual purge): its rows leave the counters too.
			if _, err := db.SQL().Exec(`DELETE FROM run_logs WHERE run_id IN (SELECT run_id FROM runs WHERE robot_id = '` + robots[0] + `')`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec(`DELETE FROM artifacts WHERE run_id IN (SELECT run_id FROM runs WHERE robot_id = '` + robots[0] + `')`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec(`DELETE FROM runs WHERE robot_id = '` + robots[0] + `'`); err != nil {
				t.Fatal(err)
			}
			want := countsFromTable(t, db)
			if diff := cmp.Diff(want, countsFromCounters(t, db, robots)); diff != "" {
				t.Errorf("counters before folding differ from the table (-table +counters):\n%s", diff)
			}
			if _, err := db.FoldRunCounts(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, countsFromCounters(t, db, robots)); diff != "" {
				t.Errorf("counters after folding differ from the table (-table +counters):\n%s", diff)
			}
			byStatus, err := db.RunCountsByStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantByStatus := map[string]int64{}
			for k, n := range want {
				wantByStatus[statusOf(k)] += n
			}
			if diff := cmp.Diff(wantByStatus, byStatus); diff != "" {
				t.Errorf("RunCountsByStatus (-table +counters):\n%s", diff)
			}
		})
	}
}

func statusOf(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}

// TestRunCountersUnderConcurrentWriters runs writers and folders at once on
// PostgreSQL (where counters go through deltas): no deadlock, no lost or
// doubled count.
func TestRunCountersUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, robots := seeded(t, dialect, 10, 2, 1)
			v, err := db.ActiveVersion(ctx, robots[0])
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						now := time.Now().UTC()
						r := &hub.Run{ID: uuid.NewString(), RobotID: robots[0], VersionID: v.ID, Status: hub.RunPending, TriggerType: "MANUAL",
							Attempt: 1, EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60, QueuedAt: now}
						if err := db.CreateRun(ctx, r, nil); err != nil {
							errs <- err
							return
						}
						worker := fmt.Sprintf("w%d", w)
						if _, ok, err := db.ClaimRun(ctx, r.ID, worker, "h", now, now.Add(time.Minute)); err != nil || !ok {
							errs <- fmt.Errorf("claim: %v %v", ok, err)
							return
						}
						status := hub.RunSuccess
						if i%3 == 0 {
							status = hub.RunFailed
						}
						if _, err := db.FinishRun(ctx, r.ID, worker, hub.RunResult{Status: status, FinishedAt: now}, nil, nil); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 30 {
						if _, err := db.FoldRunCounts(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if diff := cmp.Diff(countsFromTable(t, db), countsFromCounters(t, db, robots)); diff != "" {
				t.Errorf("counters differ from the table (-table +counters):\n%s", diff)
			}
		})
	}
}

func TestRunListPaging(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const n = 2000
			db, robots := seeded(t, dialect, n, 3, 1)
			all := hub.RobotScope{All: true}
			list := func(f hub.RunFilter) ([]hub.Run, hub.ListInfo) {
				t.Helper()
				f.Scope = all
				runs, info, err := db.ListRuns(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				return runs, info
			}
			ids := func(runs []hub.Run) []string {
				out := make([]string, len(runs))
				for i, r := range runs {
					out[i] = r.ID
				}
				return out
			}
			// The whole list in one go is the reference order.
			full, info := list(hub.RunFilter{Page: hub.Page{Limit: n}})
			if len(full) != n || !info.Exact || info.Total != n || info.Next != nil || info.Prev != nil {
				t.Fatalf("full list: %d runs, %+v", len(full), info)
			}
			if !slices.IsSortedFunc(full, func(a, b hub.Run) int {
				if c := b.QueuedAt.Compare(a.QueuedAt); c != 0 {
					return c
				}
				return -cmpString(a.ID, b.ID)
			}) {
				t.Fatal("runs are not newest first")
			}
			withArtifacts := 0
			for _, r := range full {
				withArtifacts += min(len(r.Artifacts), 1)
			}
			if withArtifacts == 0 {
				t.Error("no run came with its artifacts")
			}

			// Walking forward with next cursors and back with prev cursors
			// visits the same runs as the full list, page by page.
			var forward []string
			var pages []hub.ListInfo
			f := hub.RunFilter{Page: hub.Page{Limit: 97}}
			for {
				runs, info := list(f)
				forward = append(forward, ids(runs)...)
				pages = append(pages, info)
				if info.Next == nil {
					break
				}
				f.Page = hub.Page{Limit: 97, Before: info.Next}
			}
			if diff := cmp.Diff(ids(full), forward); diff != "" {
				t.Fatalf("walking next cursors (-full +walk):\n%s", diff)
			}
			if pages[0].Prev != nil || pages[len(pages)-1].Next != nil || len(pages) != (n+96)/97 {
				t.Errorf("%d pages; first prev %v, last next %v", len(pages), pages[0].Prev, pages[len(pages)-1].Next)
			}
			back := hub.RunFilter{Page: hub.Page{Limit: 97, After: pages[len(pages)-1].Prev}}
			var backward []string
			for {
				runs, info := list(back)
				backward = append(ids(runs), backward...)
				if info.Prev == nil {
					break
				}
				back.Page = hub.Page{Limit: 97, After: info.Prev}
			}
			lastPage := n - (len(pages)-1)*97
			if diff := cmp.Diff(ids(full)[:n-lastPage], backward); diff != "" {
				t.Fatalf("walking prev cursors (-full +walk):\n%s", diff)
			}

			// A restricted scope (robot ids or a tag) reads robot by robot
			// and merges: the same runs in the same order as filtering.
			for name, scope := range map[string]hub.RobotScope{"ids": {IDs: robots[:2]}, "tag": {Tags: []string{"finance"}}} {
				var want []string
				for _, r := range full {
					if (name == "ids" && (r.RobotID == robots[0] || r.RobotID == robots[1])) ||
						(name == "tag" && (r.RobotID == robots[0] || r.RobotID == robots[2])) {
						want = append(want, r.ID)
					}
				}
				var got []string
				page := hub.Page{Limit: 97}
				for {
					runs, info, err := db.ListRuns(ctx, hub.RunFilter{Scope: scope, Page: page})
					if err != nil {
						t.Fatal(err)
					}
					if !info.Exact || info.Total != len(want) {
						t.Errorf("scope %s: total %+v, want exact %d", name, info, len(want))
					}
					got = append(got, ids(runs)...)
					if info.Next == nil {
						break
					}
					page = hub.Page{Limit: 97, Before: info.Next}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("scope %s walk (-filtered +scoped):\n%s", name, diff)
				}
				runs, _, err := db.ListRuns(ctx, hub.RunFilter{Scope: scope, Page: hub.Page{Limit: 30, Skip: 400}})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want[400:430], ids(runs)); diff != "" {
					t.Errorf("scope %s skip (-filtered +scoped):\n%s", name, diff)
				}
			}

			// Skip pages are the same slices; a deep skip joins only its page.
			runs, info := list(hub.RunFilter{Page: hub.Page{Limit: 50, Skip: 1200}})
			if diff := cmp.Diff(ids(full)[1200:1250], ids(runs)); diff != "" {
				t.Errorf("skip 1200 (-full +page):\n%s", diff)
			}
			if info.Prev == nil || info.Next == nil || !info.Exact || info.Total != n {
				t.Errorf("skip 1200 info %+v", info)
			}
			// Skip counts from the cursor.
			runs, _ = list(hub.RunFilter{Page: hub.Page{Limit: 10, Skip: 5, Before: &hub.Cursor{At: full[99].QueuedAt, ID: full[99].ID}}})
			if diff := cmp.Diff(ids(full)[105:115], ids(runs)); diff != "" {
				t.Errorf("before + skip (-full +page):\n%s", diff)
			}

			// Filters with a counter (robot, status) are exact; the others
			// count up to a cap past the page and say so.
			var byRobot int
			for _, r := range full {
				if r.RobotID == robots[1] {
					byRobot++
				}
			}
			if _, info := list(hub.RunFilter{RobotID: robots[1], Page: hub.Page{Limit: 10}}); !info.Exact || info.Total != byRobot {
				t.Errorf("robot filter: %+v, want exact %d", info, byRobot)
			}
			_, info = list(hub.RunFilter{TriggerType: "MANUAL", Page: hub.Page{Limit: 10}})
			manual := 0
			for _, r := range full {
				if r.TriggerType == "MANUAL" {
					manual++
				}
			}
			if manual < 10+1000 {
				t.Fatalf("only %d manual runs; the cap is not reached", manual)
			}
			if info.Exact || info.Total != 10+1000 {
				t.Errorf("trigger filter: %+v, want a lower bound of %d", info, 10+1000)
			}
			// Skipping to the last page makes the total exact again.
			runs, info = list(hub.RunFilter{TriggerType: "MANUAL", Page: hub.Page{Limit: 50, Skip: manual - 20}})
			if len(runs) != 20 || !info.Exact || info.Total != manual || info.Next != nil {
				t.Errorf("last manual page: %d runs, %+v, want exact %d", len(runs), info, manual)
			}
			since := full[100].QueuedAt
			runs, info = list(hub.RunFilter{Since: &since, Page: hub.Page{Limit: 200}})
			if len(runs) != 101 || !info.Exact || info.Total != 101 {
				t.Errorf("since filter: %d runs, %+v", len(runs), info)
			}
		})
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestAuditListPaging(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := seeded(t, dialect, 130, 2, 1)
			full, info, err := db.ListAudit(ctx, hub.AuditFilter{Page: hub.Page{Limit: 500}})
			if err != nil {
				t.Fatal(err)
			}
			if len(full) != 130 || !info.Exact || info.Total != 130 {
				t.Fatalf("full audit list: %d events, %+v", len(full), info)
			}
			var walked []int64
			page := hub.Page{Limit: 40}
			for {
				evs, info, err := db.ListAudit(ctx, hub.AuditFilter{Action: "run.triggered", Page: page})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					walked = append(walked, e.ID)
				}
				if info.Next == nil {
					break
				}
				page = hub.Page{Limit: 40, Before: info.Next}
			}
			var want []int64
			for _, e := range full {
				want = append(want, e.ID)
			}
			if diff := cmp.Diff(want, walked); diff != "" {
				t.Errorf("walking audit cursors (-full +walk):\n%s", diff)
			}
			if _, _, err := db.ListAudit(ctx, hub.AuditFilter{Page: hub.Page{Limit: 5, Before: &hub.Cursor{At: time.Now(), ID: "x1"}}}); hub.ErrorKind(err) != hub.EInvalid {
				t.Errorf("a cursor with a non-numeric id: %v, want EInvalid", err)
			}
		})
	}
}

func TestUserWithGrantsIsOneRead(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hubtest.Store(t, dialect)
			now := time.Now().UTC().Truncate(time.Microsecond)
			u := &hub.User{ID: uuid.NewString(), Username: "ana", HashedPassword: "x", IsActive: true, Role: hub.RoleViewer,
				AuthSource: hub.AuthSourceLocal, CreatedAt: now, UpdatedAt: now}
			tag, robot := "finance", uuid.NewString()
			grants := []hub.Grant{
				{ResourceType: "robot", ScopeTag: &tag, Action: hub.PermRobotRun, CreatedAt: now},
				{ResourceType: "robot", ResourceID: &robot, Action: hub.PermRunRead, CreatedAt: now},
			}
			if err := db.CreateUser(ctx, u, grants, nil); err != nil {
				t.Fatal(err)
			}
			got, gotGrants, err := db.UserWithGrants(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := db.GrantsOfUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != "ana" || got.Role != hub.RoleViewer {
				t.Errorf("user %+v", got)
			}
			if diff := cmp.Diff(want, gotGrants); diff != "" || len(gotGrants) != 2 {
				t.Errorf("grants (-GrantsOfUser +UserWithGrants):\n%s", diff)
			}
			if _, _, err := db.UserWithGrants(ctx, uuid.NewString()); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("unknown user: %v, want ENotFound", err)
			}
			// A user without grants gets an empty list.
			u2 := &hub.User{ID: uuid.NewString(), Username: "bia", HashedPassword: "x", IsActive: true, Role: hub.RoleAdmin,
				AuthSource: hub.AuthSourceLocal, CreatedAt: now, UpdatedAt: now}
			if err := db.CreateUser(ctx, u2, nil, nil); err != nil {
				t.Fatal(err)
			}
			if _, g, err := db.UserWithGrants(ctx, u2.ID); err != nil || len(g) != 0 {
				t.Errorf("user without grants: %v %v", g, err)
			}
		})
	}
}

// TestReadersDoNotWaitForTheWriter holds a write transaction open and reads
// meanwhile: on SQLite the reader pool reads the last commit under WAL
// instead of queueing behind the writer, and it cannot write.
func TestReadersDoNotWaitForTheWriter(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := seeded(t, dialect, 20, 1, 0)
			inTx, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- db.InTx(ctx, func(tx *sqlstore.Tx) error {
					if _, err := tx.Exec(ctx, `UPDATE runs SET error_message = 'in flight'`); err != nil {
						return err
					}
					close(inTx)
					<-release
					return nil
				})
			}()
			<-inTx
			readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			runs, info, err := db.ListRuns(readCtx, hub.RunFilter{Scope: hub.RobotScope{All: true}, Page: hub.Page{Limit: 50}})
			if err != nil || len(runs) != 20 || info.Total != 20 {
				t.Fatalf("read during a write transaction: %d runs, %+v, %v", len(runs), info, err)
			}
			for _, r := range runs {
				if r.ErrorMessage != nil && *r.ErrorMessage == "in flight" {
					t.Fatal("a reader saw an uncommitted change")
				}
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := db.Read().Exec(ctx, `UPDATE runs SET error_message = NULL`); dialect == "sqlite" && err == nil {
				t.Error("the SQLite reader pool accepted a write")
			}
		})
	}
}

// TestRunStatsFigures checks every figure of the operations status and the
// run metrics against rows made for it.
func TestRunStatsFigures(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, robots := seeded(t, dialect, 0, 1, 0)
			v, err := db.ActiveVersion(ctx, robots[0])
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			newRun := func(queued time.Time) string {
				r := &hub.Run{ID: uuid.NewString(), RobotID: robots[0], VersionID: v.ID, Status: hub.RunPending, TriggerType: "MANUAL",
					Attempt: 1, EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60, QueuedAt: queued}
				if err := db.CreateRun(ctx, r, nil); err != nil {
					t.Fatal(err)
				}
				return r.ID
			}
			newRun(now.Add(-10 * time.Minute)) // the oldest pending
			newRun(now.Add(-time.Minute))
			if err := db.FailRun(ctx, newRun(now.Add(-3*time.Hour)), "old failure", "x", now.Add(-2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := db.FailRun(ctx, newRun(now.Add(-20*time.Minute)), "recent failure", "x", now.Add(-10*time.Minute)); err != nil {
				t.Fatal(err)
			}
			for id, beat := range map[string]time.Time{"alive:1": now.Add(-5 * time.Second), "stale:1": now.Add(-5 * time.Minute)} {
				if err := db.Heartbeat(ctx, hub.Worker{ID: id, Hostname: "h", Concurrency: 1, StartedAt: beat, LastHeartbeat: beat}); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.WorkerStopped(ctx, "gone:1", now); err != nil {
				t.Fatal(err)
			}
			st, err := db.RunStats(ctx, now, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			want := hub.RunStats{ByStatus: map[string]int64{hub.RunPending: 2, hub.RunFailed: 2}, OldestPending: 600,
				Waiting:  map[string]int64{hub.WaitPool: 0, hub.WaitRobotLimit: 0, hub.WaitScheduleLimit: 0, hub.WaitBackoff: 0, hub.WaitWorker: 0},
				LogLines: st.LogLines, WorkersAlive: 1, WorkersStale: 1, FailedLastHour: 1}
			if diff := cmp.Diff(want, st); diff != "" || st.LogLines < 2 {
				t.Errorf("RunStats (-want +got):\n%s (log lines %d)", diff, st.LogLines)
			}
		})
	}
}
