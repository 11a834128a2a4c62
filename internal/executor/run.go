package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/bus"
	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// execute runs one claimed run to its end and records the result. ctx is
// cancelled (with a cause) to stop the robot early.
func (w *Worker) execute(ctx context.Context, stop context.CancelCauseFunc, r *hub.Run) {
	log := w.log.With("run_id", r.ID)
	bg := w.hard // store calls outlive the robot, but not a Stop that gave up
	runDir := filepath.Join(w.cfg.WorkDir, "runs", r.ID)
	defer os.RemoveAll(runDir)
	fail := func(msg string) {
		if err := w.state.FailRun(bg, r.ID, msg, "Unexpected failure: "+msg, w.clock.Now()); err != nil {
			log.Error("recording a failed run failed", "error", err.Error())
		}
		_ = w.bus.Publish(bg, bus.LogTopic(r.ID), runs.EncodeStatus(r.ID, hub.RunFailed))
	}
	if err := os.MkdirAll(filepath.Join(runDir, "outputs"), 0o750); err != nil {
		fail("cannot create the run folder: " + err.Error())
		return
	}
	lastSeq, err := w.state.LastLogSeq(bg, r.ID)
	if err != nil {
		fail(err.Error())
		return
	}
	runLog := filepath.Join(runDir, "run.log")
	p, err := newPump(bg, w.state, w.bus, pumpOptions{runID: r.ID, workerID: w.cfg.ID, lastSeq: lastSeq, logPath: runLog,
		retryFor: w.cfg.LeaseDuration, stop: stop, clock: w.clock, log: log})
	if err != nil {
		fail(err.Error())
		return
	}
	closed := false
	closePump := func() int64 {
		if !closed {
			closed = true
			lastSeq = p.close()
		}
		return lastSeq
	}
	defer closePump()

	p.add(hub.LevelInfo, "Execution started.")
	v, err := w.state.VersionOnly(bg, r.VersionID)
	if err != nil {
		p.add(hub.LevelError, "Robot version not found for execution.")
		closePump()
		fail("Robot version not found.")
		return
	}
	p.add(hub.LevelInfo, fmt.Sprintf("Using robot version %s (%s)", v.Version, v.ID))
	p.add(hub.LevelInfo, "Runtime environment: "+r.EnvName)

	cmd, workspace, copied, err := w.prepare(r, v, runDir)
	if err != nil {
		p.add(hub.LevelError, "Unexpected failure: "+err.Error())
		closePump()
		fail(err.Error())
		return
	}
	outputs := filepath.Join(runDir, "outputs")
	runEnv, dropped := declaredRunEnv(r.RuntimeEnv, v)
	if len(dropped) > 0 {
		p.add(hub.LevelWarn, "Runtime environment not applied (reserved or not declared by the robot): "+strings.Join(dropped, ", "))
	}
	tmp := filepath.Join(runDir, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		p.add(hub.LevelError, "Unexpected failure: "+err.Error())
		closePump()
		fail("cannot create the run's temp folder: " + err.Error())
		return
	}
	env := withTemp(BuildEnv(w.cfg.BaseEnv, r.ID, outputs, v.EnvVars, runEnv), tmp)
	p.add(hub.LevelInfo, "Command: "+redact(commandLine(cmd.Path, cmd.Args), v.EnvVars, runEnv))
	p.add(hub.LevelInfo, "Working directory: "+cmd.Dir)
	p.add(hub.LevelInfo, "Timeout seconds: "+strconv.Itoa(r.TimeoutSeconds))
	cmd.Env = env
	cmd, confined, err := w.confine(cmd, runDir)
	if err != nil {
		p.add(hub.LevelError, "Unexpected failure: "+err.Error())
		closePump()
		fail(err.Error())
		return
	}
	if confined {
		p.add(hub.LevelInfo, "Sandbox: the robot may write only its run folder "+runDir)
	}

	stdout := NewLineWriter(false, func(l Line) { p.add(hub.LevelInfo, l.Text) })
	stderr := NewLineWriter(true, func(l Line) { p.add(hub.LevelError, l.Text) })
	cmd.Stdout, cmd.Stderr, cmd.GracePeriod = stdout, stderr, w.cfg.GracePeriod
	proc, err := startRetrying(cmd)
	if err != nil {
		p.add(hub.LevelError, "Unexpected failure: cannot start the robot: "+err.Error())
		closePump()
		fail("cannot start the robot: " + err.Error())
		return
	}
	if err := w.state.SetProcessID(bg, r.ID, w.cfg.ID, proc.Pid()); err != nil {
		log.Warn("recording the process id failed", "error", err.Error())
	}

	exited := make(chan struct{})
	var exitCode int
	var waitErr error
	go func() {
		exitCode, waitErr = proc.Wait()
		stdout.Flush()
		stderr.Flush()
		close(exited)
	}()
	timeout := time.NewTimer(time.Duration(r.TimeoutSeconds) * time.Second)
	defer timeout.Stop()
	poll := time.NewTicker(5 * time.Second) // cancel fallback when the bus signal is lost
	defer poll.Stop()
	var cause error
	timedOut := false
	stopRequested := ctx.Done()
wait:
	for {
		select {
		case <-exited:
			break wait
		case <-stopRequested:
			stopRequested = nil // Stop once; then wait for the exit
			cause = context.Cause(ctx)
			proc.Stop()
		case <-timeout.C:
			timedOut = true
			proc.Stop()
		case <-poll.C:
			if yes, err := w.state.CancelRequested(bg, r.ID); err == nil && yes {
				cause = errCanceled
				proc.Stop()
			}
		}
	}
	if cause == nil && ctx.Err() != nil {
		cause = context.Cause(ctx)
	}
	// Processes the robot left running in its group die with the run.
	proc.Stop()
	if errors.Is(cause, errLeaseLost) {
		closePump()
		log.Warn("run abandoned: it is no longer this worker's (lease lost, or the database unreachable for the lease)")
		return
	}
	var refused errLogRefused

	res := hub.RunResult{FinishedAt: w.clock.Now()}
	var final []string
	levels := map[string]string{}
	switch {
	case errors.Is(cause, errCanceled):
		res.Status = hub.RunCanceled
		final = []string{"Execution canceled by user", "Execution marked as CANCELED."}
	case errors.As(cause, &refused):
		res.Status = hub.RunFailed
		msg := refused.Error()
		res.ErrorMessage = &msg
		final = []string{"Unexpected failure: " + msg}
		levels[final[0]] = hub.LevelError
	case errors.Is(cause, errShutdown):
		res.Status = hub.RunFailed
		msg := "the worker shut down before the robot finished"
		res.ErrorMessage = &msg
		final = []string{"Unexpected failure: " + msg}
		levels[final[0]] = hub.LevelError
	case timedOut:
		res.Status = hub.RunFailed
		msg := "TIMEOUT"
		res.ErrorMessage = &msg
		final = []string{fmt.Sprintf("TIMEOUT: exceeded %d seconds.", r.TimeoutSeconds), "TIMEOUT"}
		levels[final[0]], levels[final[1]] = hub.LevelError, hub.LevelError
	case waitErr != nil:
		res.Status = hub.RunFailed
		msg := waitErr.Error()
		res.ErrorMessage = &msg
		final = []string{"Unexpected failure: " + msg}
		levels[final[0]] = hub.LevelError
	case exitCode == 0:
		res.Status = hub.RunSuccess
		final = []string{"Execution finished successfully."}
	default:
		res.Status = hub.RunFailed
		msg := fmt.Sprintf("Process returned exit code %d", exitCode)
		res.ErrorMessage = &msg
		final = []string{msg}
		levels[msg] = hub.LevelError
	}
	if waitErr == nil {
		code := exitCode
		res.ExitCode = &code
	}
	seq := closePump()
	lines := make([]hub.LogLine, 0, len(final))
	for _, msg := range final {
		seq++
		lvl := levels[msg]
		if lvl == "" {
			lvl = hub.LevelInfo
		}
		lines = append(lines, hub.LogLine{RunID: r.ID, Seq: seq, Timestamp: res.FinishedAt, Level: lvl, Message: msg})
	}
	if f, err := os.OpenFile(runLog, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		writeRunLog(f, lines)
		f.Close()
	}
	arts, err := w.collect(bg, r.ID, runDir, workspace, copied)
	if err != nil {
		log.Warn("collecting artifacts failed", "error", err.Error())
	}
	ok, err := w.state.FinishRun(bg, r.ID, w.cfg.ID, res, lines, arts)
	if err != nil {
		log.Error("recording the end of the run failed", "error", err.Error())
		return
	}
	if !ok {
		log.Warn("run was taken away before it finished; result discarded")
		return
	}
	_ = w.bus.Publish(bg, bus.LogTopic(r.ID), runs.EncodeLogBatch(lines))
	_ = w.bus.Publish(bg, bus.LogTopic(r.ID), runs.EncodeStatus(r.ID, res.Status))
	if w.cfg.Observer != nil && r.StartedAt != nil {
		w.cfg.Observer.Finished(res.Status, res.FinishedAt.Sub(*r.StartedAt))
	}
	log.Info("run finished", "status", res.Status)
}

// prepare builds the robot's command in a fresh workspace.
func (w *Worker) prepare(r *hub.Run, v *hub.Version, runDir string) (Command, string, map[string]fileState, error) {
	if v.ArtifactPath == nil {
		return Command{}, "", nil, errors.New("the version has no package")
	}
	pkg, err := w.blobs.Path(*v.ArtifactPath)
	if err != nil {
		return Command{}, "", nil, fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
	}
	workspace := filepath.Join(runDir, "workspace")
	if err := os.MkdirAll(workspace, 0o750); err != nil {
		return Command{}, "", nil, err
	}
	args := append(append([]string{}, v.Arguments...), r.RuntimeArguments...)
	if v.ArtifactType == hub.ArtifactExe {
		exe := filepath.Join(workspace, "robot.exe")
		if err := copyFile(pkg, exe, 0o755); err != nil {
			return Command{}, "", nil, fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
		}
		st, _ := os.Stat(exe)
		return Command{Path: exe, Args: args, Dir: workspace}, workspace, map[string]fileState{"robot.exe": {size: st.Size(), mod: st.ModTime()}}, nil
	}
	cache, err := w.packageCache(v, pkg)
	if err != nil {
		return Command{}, "", nil, err
	}
	copied, err := copyTree(cache, workspace)
	if err != nil {
		return Command{}, "", nil, fmt.Errorf("prepare workspace: %w", err)
	}
	entry := filepath.Join(workspace, filepath.FromSlash(v.EntrypointPath))
	if _, err := os.Stat(entry); err != nil {
		return Command{}, "", nil, fmt.Errorf("Entrypoint not found inside ZIP workspace: %s", v.EntrypointPath)
	}
	dir := workspace
	if v.WorkingDirectory != nil {
		dir = filepath.Join(workspace, filepath.FromSlash(*v.WorkingDirectory))
	}
	if v.EntrypointType == hub.EntrypointExe || strings.HasSuffix(strings.ToLower(entry), ".exe") {
		_ = os.Chmod(entry, 0o755)
		return Command{Path: entry, Args: args, Dir: dir}, workspace, copied, nil
	}
	python, err := exec.LookPath(w.cfg.PythonExecutable)
	if err != nil {
		return Command{}, "", nil, fmt.Errorf("Python interpreter %q not found on this worker (PYTHON_EXECUTABLE)", w.cfg.PythonExecutable)
	}
	return Command{Path: python, Args: append([]string{entry}, args...), Dir: dir}, workspace, copied, nil
}

// commandLine shows a command as one unambiguous line: an argument that is
// empty or holds spaces, quotes or control characters (a newline would forge
// log lines) is shown Go-quoted.
func commandLine(path string, args []string) string {
	parts := make([]string, 0, 1+len(args))
	for _, a := range append([]string{path}, args...) {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r == '\\' || r == 0x7f }) {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// declaredRunEnv keeps the variables of a run's runtime environment that
// the rule of execute allows (hub.CheckRunEnv), and names the others: runs
// queued before the rule, or by an older API, never reach the robot with a
// loader hook.
func declaredRunEnv(env map[string]string, v *hub.Version) (map[string]string, []string) {
	declared := v.DeclaredEnvKeys()
	out := make(map[string]string, len(env))
	var dropped []string
	for k, val := range env {
		if hub.CheckRunEnv(map[string]string{k: val}, declared) != nil {
			dropped = append(dropped, k)
			continue
		}
		out[k] = val
	}
	slices.Sort(dropped)
	return out, dropped
}

// redact hides env values that look secret wherever they appear in the
// command line logged for the run.
func redact(s string, layers ...map[string]string) string {
	for _, l := range layers {
		for k, v := range l {
			if len(v) >= 4 && hub.LooksSecret(k) {
				s = strings.ReplaceAll(s, v, hub.MaskedValue)
			}
		}
	}
	return s
}

// collect stores run.log, every file under outputs/, and workspace files the
// robot created or changed, as run artifacts.
func (w *Worker) collect(ctx context.Context, runID, runDir, workspace string, copied map[string]fileState) ([]hub.Artifact, error) {
	var arts []hub.Artifact
	add := func(abs, key, name string) error {
		if len(arts) >= maxArtifacts {
			return errTooManyArtifacts
		}
		a, err := w.store(abs, key, name, runID)
		if err != nil {
			return err
		}
		arts = append(arts, *a)
		return nil
	}
	base := path.Join("runs", runID)
	if err := add(filepath.Join(runDir, "run.log"), path.Join(base, "run.log"), "run.log"); err != nil {
		return arts, err
	}
	walk := func(root, prefix string, keep func(rel string, info fs.FileInfo) bool) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return nil
			}
			rel = filepath.ToSlash(rel)
			info, err := d.Info()
			if err != nil || !keep(rel, info) {
				return nil
			}
			return add(p, path.Join(base, prefix, rel), path.Base(rel))
		})
	}
	if err := walk(filepath.Join(runDir, "outputs"), "outputs", func(string, fs.FileInfo) bool { return true }); err != nil {
		return arts, err
	}
	if workspace != "" {
		err := walk(workspace, "workspace", func(rel string, info fs.FileInfo) bool {
			old, ok := copied[rel]
			return !ok || old.size != info.Size() || !old.mod.Equal(info.ModTime())
		})
		if err != nil {
			return arts, err
		}
	}
	return arts, nil
}

// store copies one file into the artifact store and describes it.
func (w *Worker) store(abs, key, name, runID string) (*hub.Artifact, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	up, err := w.blobs.Create(w.cfg.MaxArtifactBytes)
	if err != nil {
		return nil, err
	}
	defer up.Abort()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := up.Write(head[:n]); err != nil {
		return nil, err
	}
	if _, err := io.Copy(up, f); err != nil {
		return nil, fmt.Errorf("store artifact %s: %w", name, err)
	}
	if err := up.Commit(key, true); err != nil {
		return nil, err
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = http.DetectContentType(head[:n])
	}
	sum := up.SHA256()
	return &hub.Artifact{ID: uuid.NewString(), RunID: runID, Name: name, Path: key, Size: up.Size(), ContentType: &ct, SHA256: &sum, CreatedAt: w.clock.Now()}, nil
}

// startRetrying starts cmd, retrying briefly while the freshly copied
// executable is still held open by a concurrent fork (ETXTBSY).
func startRetrying(cmd Command) (*Process, error) {
	for attempt := 1; ; attempt++ {
		p, err := Start(cmd)
		if err == nil || !isTextBusy(err) || attempt == 20 {
			return p, err
		}
		time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
	}
}
