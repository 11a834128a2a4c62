// Package seed fills a hub's database and artifact folder with realistic
// demo data in bulk: robots with a runnable package, a portal domain and
// services, and finished runs with log lines, output artifacts and audit
// events spread over past days. It serves benchmarks and demos
// (`hub dev seed`); rows are written with multi-row inserts in large
// transactions, so a million runs take a minute or two, not hours.
package seed

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/sqlstore"
)

// Options say how much to write.
type Options struct {
	Runs     int // finished runs to add
	Robots   int // robots the runs spread over (default 100)
	Services int // portal services, each bound to one of the robots (default 10)
	// LogLines is the number of log lines of each run (default 3).
	LogLines int
	// ArtifactEvery gives every n-th run an output file (default 50; 0
	// uses the default, a negative value writes none).
	ArtifactEvery int
	// Days is how far back the runs go (default 365); the newest is now.
	Days int
	// Seed makes the data repeatable (default: a random seed).
	Seed uint64
	// Now is the newest run's queue time (default time.Now()).
	Now time.Time
	// Progress, when set, is told how many runs are written so far.
	Progress func(done int)
}

// Result says what was written.
type Result struct {
	Robots, Services, Runs, LogLines, Artifacts, AuditEvents int
	Elapsed                                                  time.Duration
}

// Artifacts is where seeded packages and output files go (the local
// artifact store).
type Artifacts interface {
	Path(key string) (string, error)
}

// runsPerTx is how many runs (with their lines, artifacts and events) one
// transaction writes.
const runsPerTx = 10000

// Run writes the demo data.
func Run(ctx context.Context, db *sqlstore.DB, blobs Artifacts, o Options) (Result, error) {
	start := time.Now()
	o = o.withDefaults()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	s := &seeder{db: db, blobs: blobs, o: o, rng: rng, batch: fmt.Sprintf("%04x", rng.Uint32()&0xffff)}
	if err := s.owner(ctx); err != nil {
		return Result{}, err
	}
	if err := s.addRobots(ctx); err != nil {
		return Result{}, err
	}
	if err := s.addServices(ctx); err != nil {
		return Result{}, err
	}
	if err := s.addRuns(ctx); err != nil {
		return s.res, err
	}
	// The runs went into past days: their dashboard figures are computed again.
	if err := db.ForgetStoredStats(ctx); err != nil {
		return s.res, err
	}
	if err := db.Optimize(ctx); err != nil {
		return s.res, err
	}
	s.res.Elapsed = time.Since(start)
	return s.res, nil
}

func (o Options) withDefaults() Options {
	if o.Robots <= 0 {
		o.Robots = 100
	}
	if o.Services < 0 {
		o.Services = 0
	} else if o.Services == 0 {
		o.Services = 10
	}
	o.Services = min(o.Services, o.Robots)
	if o.LogLines < 0 {
		o.LogLines = 0
	} else if o.LogLines == 0 {
		o.LogLines = 3
	}
	if o.ArtifactEvery == 0 {
		o.ArtifactEvery = 50
	}
	if o.Days <= 0 {
		o.Days = 365
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Microsecond)
	return o
}

type robot struct{ id, versionID string }

type seeder struct {
	db       *sqlstore.DB
	blobs    Artifacts
	o        Options
	rng      *rand.Rand
	batch    string // names this seeding's robots apart from earlier ones
	ownerID  *string
	robotIDs []robot
	services []hub.Service
	res      Result
}

// owner picks the first active admin as the one who started the runs.
func (s *seeder) owner(ctx context.Context) error {
	var id string
	err := s.db.Read().QueryRow(ctx, `SELECT id FROM users WHERE is_active = ? AND (role = ? OR is_superuser = ?)
		ORDER BY created_at LIMIT 1`, true, hub.RoleAdmin, true).Scan(&id)
	if err == nil {
		s.ownerID = &id
	}
	return nil
}

var tagSets = [][]string{{"finance"}, {"hr"}, {"sap", "finance"}, {"reports"}, {"sap"}, {}}

func (s *seeder) addRobots(ctx context.Context) error {
	pkg, sum := demoPackage()
	size := int64(len(pkg))
	now := s.o.Now.Add(-time.Duration(s.o.Days) * 24 * time.Hour)
	for i := range s.o.Robots {
		r := &hub.Robot{ID: uuid.NewString(), Name: fmt.Sprintf("demo-%s-%03d", s.batch, i+1), Tags: tagSets[i%len(tagSets)],
			CreatedBy: s.ownerID, CreatedAt: now, UpdatedAt: now}
		desc := "Demo robot written by hub dev seed."
		r.Description = &desc
		key := path.Join("robots", r.ID, "1.0.0", "artifact.zip")
		if err := s.writeFile(key, pkg); err != nil {
			return err
		}
		v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: hub.EntrypointPython,
			EntrypointPath: "main.py", Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: hub.ArtifactZip,
			ArtifactPath: &key, ArtifactSHA256: &sum, Checksum: &sum, ArtifactSize: &size, CreatedSource: "user",
			RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedBy: s.ownerID, CreatedAt: now, IsActive: true}
		if err := s.db.CreateRobot(ctx, r, v, nil); err != nil {
			return fmt.Errorf("seed robot %s: %w", r.Name, err)
		}
		s.robotIDs = append(s.robotIDs, robot{r.ID, v.ID})
		s.res.Robots++
	}
	return nil
}

func (s *seeder) addServices(ctx context.Context) error {
	if s.o.Services == 0 {
		return nil
	}
	now := s.o.Now.Add(-time.Duration(s.o.Days) * 24 * time.Hour)
	d := &hub.Domain{ID: uuid.NewString(), Name: "Demo " + s.batch, Slug: "demo-" + s.batch, CreatedAt: now, UpdatedAt: now}
	if err := s.db.CreateDomain(ctx, d, nil); err != nil {
		return fmt.Errorf("seed domain: %w", err)
	}
	for i := range s.o.Services {
		svc := hub.Service{ID: uuid.NewString(), DomainID: d.ID, RobotID: s.robotIDs[i].id, Title: fmt.Sprintf("Demo service %d", i+1),
			Enabled: true, FormSchema: []byte(`{"fields":[{"name":"period","label":"Period","type":"text","required":true}]}`),
			RunTemplate: []byte(`{"args":["--period","{{period}}"]}`), CreatedBy: s.ownerID, CreatedAt: now, UpdatedAt: now}
		if err := s.db.CreateService(ctx, &svc, nil); err != nil {
			return fmt.Errorf("seed service: %w", err)
		}
		s.services = append(s.services, svc)
		s.res.Services++
	}
	return nil
}

// writeFile puts content under key in the artifact folder. Seeding writes
// thousands of files, so it skips the store's per-file fsync.
func (s *seeder) writeFile(key string, content []byte) error {
	p, err := s.blobs.Path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := os.WriteFile(p, content, 0o640); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// demoPackage is a one-file Python robot and its SHA-256.
func demoPackage() ([]byte, string) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("main.py")
	_, _ = w.Write([]byte("print('hello from a demo robot')\n"))
	w, _ = zw.Create("robot.yaml")
	_, _ = w.Write([]byte("name: demo\nentrypoint: main.py\n"))
	_ = zw.Close()
	sum := sha256.Sum256(b.Bytes())
	return b.Bytes(), hex.EncodeToString(sum[:])
}

var (
	runCols   = []string{"run_id", "robot_id", "robot_version_id", "service_id", "status", "trigger_type", "attempt", "env_name", "parameters_json", "runtime_arguments", "runtime_env", "timeout_seconds", "queued_at", "started_at", "finished_at", "duration_seconds", "triggered_by", "error_message", "exit_code", "host_name", "worker_id", "cancel_requested", "canceled_at", "canceled_by"}
	logCols   = []string{"run_id", "seq", `"timestamp"`, "level", "message"}
	artCols   = []string{"id", "run_id", "artifact_name", "file_path", "file_size_bytes", "content_type", "sha256", "created_at"}
	auditCols = []string{"actor_user_id", "actor_subject", "action", "target_type", "target_id", "metadata_json", "ip", "created_at"}
)

func (s *seeder) addRuns(ctx context.Context) error {
	if s.o.Runs <= 0 {
		return nil
	}
	span := time.Duration(s.o.Days) * 24 * time.Hour
	step := span / time.Duration(s.o.Runs)
	first := s.o.Now.Add(-span)
	hosts := []string{"rpa-win-01", "rpa-win-02", "rpa-linux-01"}
	for done := 0; done < s.o.Runs; {
		n := min(runsPerTx, s.o.Runs-done)
		var runRows, logRows, artRows, auditRows [][]any
		for i := range n {
			k := done + i
			rb := s.robotIDs[s.rng.IntN(len(s.robotIDs))]
			var serviceID any
			params := any(nil)
			if len(s.services) > 0 && s.rng.IntN(5) == 0 {
				svc := s.services[s.rng.IntN(len(s.services))]
				serviceID, rb = svc.ID, s.robotFor(svc.RobotID)
				params = fmt.Sprintf(`{"period":"%s"}`, first.Add(time.Duration(k)*step).Format("2006-01"))
			}
			queued := first.Add(time.Duration(k)*step + time.Duration(s.rng.Int64N(int64(max(step, time.Microsecond))))).Truncate(time.Microsecond)
			started := queued.Add(time.Duration(200+s.rng.IntN(3000)) * time.Millisecond)
			duration := time.Duration(1+s.rng.IntN(600)) * time.Second
			finished := started.Add(duration)
			status, exit, errMsg, trigger := s.outcome()
			var canceledAt, canceledBy any
			if status == hub.RunCanceled {
				canceledAt, canceledBy = finished, s.ownerID
			}
			id := uuid.NewString()
			host := hosts[s.rng.IntN(len(hosts))]
			runRows = append(runRows, []any{id, rb.id, rb.versionID, serviceID, status, trigger, attemptOf(trigger), "PROD", params, "[]", "{}", 3600,
				queued, started, finished, duration.Seconds(), s.ownerID, errMsg, exit, host, host + ":1", false, canceledAt, canceledBy})
			for l := range s.o.LogLines {
				level, msg := hub.LevelInfo, fmt.Sprintf("step %d of %d: processed %d records", l+1, s.o.LogLines, s.rng.IntN(5000))
				if l == s.o.LogLines-1 && status == hub.RunFailed {
					level, msg = hub.LevelError, "Traceback (most recent call last): ValueError: invoice total does not match"
				}
				ts := started.Add(duration * time.Duration(l+1) / time.Duration(s.o.LogLines+1))
				logRows = append(logRows, []any{id, l + 1, ts, level, msg})
			}
			if s.o.ArtifactEvery > 0 && k%s.o.ArtifactEvery == 0 && status == hub.RunSuccess {
				content := []byte(fmt.Sprintf("invoice,amount\n%d,%d.%02d\n", k, s.rng.IntN(10000), s.rng.IntN(100)))
				key := path.Join("runs", id, "outputs", "report.csv")
				if err := s.writeFile(key, content); err != nil {
					return err
				}
				sum := sha256.Sum256(content)
				artRows = append(artRows, []any{uuid.NewString(), id, "outputs/report.csv", key, len(content), "text/csv; charset=utf-8", hex.EncodeToString(sum[:]), finished})
			}
			auditRows = append(auditRows, []any{s.ownerID, nil, "run.triggered", "run", id,
				fmt.Sprintf(`{"run_id":%q,"robot_id":%q,"version_id":%q}`, id, rb.id, rb.versionID), "10.0.0.7", queued})
		}
		err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
			for _, t := range []struct {
				table string
				cols  []string
				rows  [][]any
			}{{"runs", runCols, runRows}, {"run_logs", logCols, logRows}, {"artifacts", artCols, artRows}, {"audit_events", auditCols, auditRows}} {
				if err := insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed runs: %w", err)
		}
		done += n
		s.res.Runs += n
		s.res.LogLines += len(logRows)
		s.res.Artifacts += len(artRows)
		s.res.AuditEvents += len(auditRows)
		if s.o.Progress != nil {
			s.o.Progress(done)
		}
	}
	if _, err := s.db.FoldRunCounts(ctx); err != nil {
		return err
	}
	return nil
}

func (s *seeder) robotFor(id string) robot {
	for _, r := range s.robotIDs {
		if r.id == id {
			return r
		}
	}
	return s.robotIDs[0]
}

// outcome draws how a run ended: mostly successes, some failures (exit code
// or timeout), a few cancellations; most runs started by hand or schedule.
func (s *seeder) outcome() (status string, exit, errMsg any, trigger string) {
	trigger = "MANUAL"
	switch t := s.rng.IntN(100); {
	case t < 35:
		trigger = "SCHEDULED"
	case t < 40:
		trigger = "RETRY"
	}
	switch o := s.rng.IntN(100); {
	case o < 85:
		return hub.RunSuccess, 0, nil, trigger
	case o < 95:
		return hub.RunFailed, 1, "Process exited with code 1.", trigger
	case o < 97:
		return hub.RunFailed, nil, "Timeout after 3600 seconds.", trigger
	default:
		return hub.RunCanceled, nil, nil, trigger
	}
}

func attemptOf(trigger string) int {
	if trigger == "RETRY" {
		return 2
	}
	return 1
}

// maxParams keeps a multi-row insert under both drivers' bound parameter
// limits (SQLite 32766, PostgreSQL 65535).
const maxParams = 30000

func insertRows(ctx context.Context, tx *sqlstore.Tx, table string, cols []string, rows [][]any) error {
	per := maxParams / len(cols)
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for len(rows) > 0 {
		n := min(per, len(rows))
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, n*len(cols))
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = append(args, r...)
		}
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
		rows = rows[n:]
	}
	return nil
}
