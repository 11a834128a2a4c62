package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"automationhub/internal/hub"
)

// execute runs one claimed run to its end and records the result. ctx is
// cancelled (with a cause) to stop the robot early.
func (w *Worker) execute(ctx context.Context, stop context.CancelCauseFunc, r *hub.Run) {
	log := w.log.With("run_id", r.ID)
	bg := w.hard // store calls outlive the robot, but not a Stop that gave up
	runDir := filepath.Join(w.cfg.WorkDir, "runs", r.ID)
	defer os.RemoveAll(runDir)
	defer w.releasePython(r.ID)
	// masker hides the run's secrets in everything written about it; it
	// is set once the robot's configuration is read.
	var masker *Masker
	fail := func(msg string) {
		msg = masker.Mask(msg)
		if err := w.state.FailRun(bg, r.ID, w.cfg.ID, msg, "Unexpected failure: "+msg); err != nil {
			log.Error("recording a failed run failed", "error", err.Error())
		}
	}
	if err := os.MkdirAll(filepath.Join(runDir, "outputs"), 0o750); err != nil {
		fail("cannot create the run folder: " + err.Error())
		return
	}
	lastSeq, err := w.state.LastLogSeq(bg, r.ID, w.cfg.ID)
	if err != nil {
		fail(err.Error())
		return
	}
	runLog := filepath.Join(runDir, "run.log")
	p, err := newPump(bg, w.state, pumpOptions{runID: r.ID, workerID: w.cfg.ID, lastSeq: lastSeq, logPath: runLog,
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
	config := &hub.RunConfig{}
	if w.cfg.Env != nil {
		if config, err = w.cfg.Env.RunConfig(bg, r.ID, w.cfg.ID); err != nil {
			msg := "the robot's configuration could not be read: " + err.Error()
			if hub.ErrorKind(err) != hub.EInternal {
				msg = "the robot's configuration could not be read: " + hub.ErrorMessage(err)
			}
			p.add(hub.LevelError, "Unexpected failure: "+msg)
			closePump()
			fail(msg)
			return
		}
	}
	masker = NewMasker(config.SecretValues())
	p.mask = masker
	log = maskLogger(log, masker)
	cfgEnv, cfgDropped := configRunEnv(config)
	if len(config.Env) > 0 {
		p.add(hub.LevelInfo, "Robot configuration ("+r.EnvName+"): "+describeConfig(config))
	}
	if len(cfgDropped) > 0 {
		p.add(hub.LevelWarn, "Robot configuration not applied (reserved or invalid names): "+strings.Join(cfgDropped, ", "))
	}

	cmd, workspace, copied, err := w.prepare(ctx, p, r, v, runDir)
	if err != nil {
		p.add(hub.LevelError, "Unexpected failure: "+err.Error())
		closePump()
		fail(err.Error())
		return
	}
	outputs := filepath.Join(runDir, "outputs")
	runEnv, dropped := declaredRunEnv(r.RuntimeEnv, v)
	for k := range runEnv {
		if config.Secrets[k] { // a run never overrides a secret (execute refuses it)
			delete(runEnv, k)
			dropped = append(dropped, k)
		}
	}
	slices.Sort(dropped)
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
	env := withAttempt(withTemp(BuildEnv(w.cfg.BaseEnv, r.ID, outputs, v.EnvVars, cfgEnv, runEnv), tmp), r.Attempt)
	env = w.withPythonEnv(r.ID, env)
	p.add(hub.LevelInfo, "Command: "+redact(commandLine(cmd.Path, cmd.Args), v.EnvVars, runEnv))
	p.add(hub.LevelInfo, "Working directory: "+cmd.Dir)
	p.add(hub.LevelInfo, "Timeout seconds: "+strconv.Itoa(r.TimeoutSeconds))
	cmd.Env = env
	cmd, confined, group, err := w.confine(cmd, r.ID, runDir)
	if err != nil {
		p.add(hub.LevelError, "Unexpected failure: "+err.Error())
		closePump()
		fail(err.Error())
		return
	}
	// Whatever happens next, the run's cgroup does not outlive it.
	defer func() {
		if group != "" {
			_, _ = endGroup(r.ID, group)
		}
	}()
	if confined {
		p.add(hub.LevelInfo, "Sandbox: the robot may write only its run folder "+runDir)
	}

	stdout := NewLineWriter(false, func(l Line) { p.add(hub.LevelInfo, l.Text) })
	stderr := NewLineWriter(true, func(l Line) { p.add(hub.LevelError, l.Text) })
	// Secrets are masked in the byte stream, before it is cut into lines:
	// one split across two reads, or across the pieces of a long line, is
	// still found.
	maskedOut, maskedErr := NewMaskWriter(masker, stdout), NewMaskWriter(masker, stderr)
	cmd.Stdout, cmd.Stderr, cmd.GracePeriod = maskedOut, maskedErr, w.cfg.GracePeriod
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
		_ = maskedOut.Flush()
		_ = maskedErr.Flush()
		stdout.Flush()
		stderr.Flush()
		close(exited)
	}()
	timeout := time.NewTimer(time.Duration(r.TimeoutSeconds) * time.Second)
	defer timeout.Stop()
	poll := time.NewTicker(5 * time.Second) // cancel fallback when the bus signal is lost
	defer poll.Stop()
	disk := watchDisk(runDir, w.cfg.MaxRunDiskBytes)
	defer disk.stop()
	var cause error
	timedOut := false
	var diskUsed int64 // > 0: the run went over its disk budget
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
		case diskUsed = <-disk.over:
			proc.Stop()
		case <-poll.C:
			if yes, err := w.state.CancelRequested(bg, r.ID, w.cfg.ID); err == nil && yes {
				cause = errCanceled
				proc.Stop()
			}
		}
	}
	disk.stop()
	if cause == nil && ctx.Err() != nil {
		cause = context.Cause(ctx)
	}
	// Processes the robot left running in its group die with the run, and
	// so do those that left the group (its cgroup).
	proc.Stop()
	if n, err := endGroup(r.ID, group); err != nil {
		log.Warn("ending the run's cgroup failed", "error", err.Error())
	} else if n > 0 {
		p.add(hub.LevelWarn, fmt.Sprintf("Stopped %d process(es) the robot left running.", n))
	}
	if errors.Is(cause, errLeaseLost) {
		closePump()
		log.Warn("run abandoned: it is no longer this worker's (lease lost, or the database unreachable for the lease)")
		return
	}
	var refused errLogRefused

	res := hub.RunResult{FinishedAt: w.clock.Now()}
	var final []logEntry
	failed := func(msg string) {
		res.Status, res.ErrorMessage = hub.RunFailed, &msg
		final = []logEntry{{hub.LevelError, "Unexpected failure: " + msg}}
	}
	switch {
	case errors.Is(cause, errCanceled):
		res.Status = hub.RunCanceled
		final = []logEntry{{hub.LevelInfo, "Execution canceled by user"}, {hub.LevelInfo, "Execution marked as CANCELED."}}
	case errors.As(cause, &refused):
		failed(refused.Error())
	case errors.Is(cause, errShutdown):
		failed("the worker shut down before the robot finished")
	case timedOut:
		res.Status = hub.RunFailed
		msg := "TIMEOUT"
		res.ErrorMessage = &msg
		final = []logEntry{{hub.LevelError, fmt.Sprintf("TIMEOUT: exceeded %d seconds.", r.TimeoutSeconds)}, {hub.LevelError, "TIMEOUT"}}
	case diskUsed > 0:
		failed(fmt.Sprintf("the run used more than RUN_MAX_DISK_BYTES (%d bytes) of disk: %d bytes in its folder", w.cfg.MaxRunDiskBytes, diskUsed))
	case waitErr != nil:
		failed(waitErr.Error())
	case exitCode == 0:
		res.Status = hub.RunSuccess
		final = []logEntry{{hub.LevelInfo, "Execution finished successfully."}}
	default:
		res.Status = hub.RunFailed
		msg := fmt.Sprintf("Process returned exit code %d", exitCode)
		res.ErrorMessage = &msg
		final = []logEntry{{hub.LevelError, msg}}
	}
	if waitErr == nil {
		code := exitCode
		res.ExitCode = &code
	}
	if res.ErrorMessage != nil {
		msg := masker.Mask(*res.ErrorMessage)
		res.ErrorMessage = &msg
	}
	seq := closePump()

	// Output files first, so that what could not be kept is in the log and
	// in the outcome; run.log last, so that it holds the final lines.
	var notes []logEntry
	var arts []hub.Artifact
	if diskUsed > 0 {
		notes = []logEntry{{hub.LevelWarn, "Output files are not kept from a run that went over its disk budget."}}
	} else {
		var missed []notStored
		var nMissed int
		arts, missed, nMissed = w.collect(bg, r.ID, runDir, workspace, copied, masker)
		notes = missedLines(missed, nMissed)
		if nMissed > 0 && res.Status == hub.RunSuccess {
			noun := "files"
			if nMissed == 1 {
				noun = "file"
			}
			failed(fmt.Sprintf("the robot succeeded but %d output %s could not be stored", nMissed, noun))
			msg := masker.Mask(*res.ErrorMessage)
			res.ErrorMessage = &msg
		}
	}
	entries := slices.Concat(notes, final)
	if f, err := os.OpenFile(runLog, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		writeRunLog(f, logLines(masker, r.ID, res.FinishedAt, 0, entries))
		f.Close()
	}
	if a, err := w.store(bg, runLog, "run.log", r.ID); err != nil {
		// run.log is a copy of the stored log; say so there, before the final lines.
		entries = slices.Concat(notes, []logEntry{{hub.LevelWarn, "run.log not stored as an artifact: " + whyNotStored(err, w.cfg.MaxArtifactBytes)}}, final)
	} else {
		arts = append([]hub.Artifact{*a}, arts...)
	}
	lines := logLines(masker, r.ID, res.FinishedAt, seq, entries)
	// Everything the run leaves is stored: its working copy goes before the
	// run shows finished, so that nobody sees a finished run's folder.
	_ = os.RemoveAll(runDir)
	ok, err := w.state.FinishRun(bg, r.ID, w.cfg.ID, res, lines, arts)
	if hub.ErrorKind(err) == hub.EUnavailable {
		// A full disk: free what the run holds, then record at least how it
		// ended (an update in place needs no new room).
		log.Error("recording the end of the run failed; recording its outcome alone", "error", err.Error())
		_ = os.RemoveAll(runDir)
		w.state.DiscardArtifacts(bg, r.ID, w.cfg.ID, arts)
		lines = nil
		ok, err = w.state.FinishRun(bg, r.ID, w.cfg.ID, res, nil, nil)
	}
	if err != nil {
		log.Error("recording the end of the run failed", "error", err.Error())
		return
	}
	if !ok {
		log.Warn("run was taken away before it finished; result discarded")
		return
	}
	if w.cfg.Observer != nil && r.StartedAt != nil {
		w.cfg.Observer.Finished(res.Status, res.FinishedAt.Sub(*r.StartedAt))
	}
	log.Info("run finished", "status", res.Status)
}

// withAttempt sets HUB_ATTEMPT, the run's attempt (1, then 2 for its first
// retry, …), replacing any other setting of it.
func withAttempt(env []string, attempt int) []string {
	out := slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return strings.EqualFold(k, "HUB_ATTEMPT")
	})
	return append(out, "HUB_ATTEMPT="+strconv.Itoa(max(attempt, 1)))
}

// prepare builds the robot's command in a fresh workspace; a Python
// environment's build logs to p.
func (w *Worker) prepare(ctx context.Context, p *pump, r *hub.Run, v *hub.Version, runDir string) (Command, string, map[string]fileState, error) {
	if v.ArtifactPath == nil {
		return Command{}, "", nil, errors.New("the version has no package")
	}
	pkg, err := w.fetchPackage(ctx, r.ID, v)
	if err != nil {
		return Command{}, "", nil, err
	}
	workspace := filepath.Join(runDir, "workspace")
	if err := os.MkdirAll(workspace, 0o750); err != nil {
		return Command{}, "", nil, err
	}
	args := append(append([]string{}, v.Arguments...), r.RuntimeArguments...)
	if v.ArtifactType == hub.ArtifactExe {
		exe := filepath.Join(workspace, "robot.exe")
		sum, err := copyFile(pkg, exe, 0o755)
		if err != nil {
			return Command{}, "", nil, fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
		}
		if v.ArtifactSHA256 != nil && sum != *v.ArtifactSHA256 {
			w.forgetPackage(v)
			return Command{}, "", nil, fmt.Errorf("package integrity check failed: SHA-256 of %s does not match the published version", *v.ArtifactPath)
		}
		st, _ := os.Stat(exe)
		return Command{Path: exe, Args: args, Dir: workspace}, workspace, map[string]fileState{"robot.exe": {size: st.Size(), mod: st.ModTime()}}, nil
	}
	copied, err := w.copyPackage(v, pkg, workspace)
	if err != nil {
		return Command{}, "", nil, err
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
	python, err := w.python(ctx, p, r.ID, v.ID, workspace)
	if err != nil {
		return Command{}, "", nil, err
	}
	return Command{Path: python, Args: append([]string{entry}, args...), Dir: dir}, workspace, copied, nil
}

// copyPackage fills a run's workspace from the version's cached package,
// verified file by file against the SHA-256 taken when it was unpacked. A
// cache that changed is dropped and unpacked again from the published
// package, once.
func (w *Worker) copyPackage(v *hub.Version, pkg, workspace string) (map[string]fileState, error) {
	for attempt := 0; ; attempt++ {
		cache, sums, err := w.packageCache(v, pkg)
		if err != nil {
			return nil, err
		}
		copied, err := copyTree(cache, workspace, sums)
		if err == nil {
			return copied, nil
		}
		if !errors.Is(err, errCacheChanged) || attempt > 0 {
			return nil, fmt.Errorf("prepare workspace: %w", err)
		}
		w.log.Warn("the package cache was changed; unpacking the package again", "version_id", v.ID, "error", err.Error())
		w.forgetCache(v)
		if err := os.RemoveAll(workspace); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(workspace, 0o750); err != nil {
			return nil, err
		}
	}
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

// logEntry is a line the worker itself writes to a run's log.
type logEntry struct{ level, msg string }

// logLines numbers entries after seq as log lines of run runID at time at,
// masked by m.
func logLines(m *Masker, runID string, at time.Time, seq int64, entries []logEntry) []hub.LogLine {
	lines := make([]hub.LogLine, len(entries))
	for i, e := range entries {
		lines[i] = hub.LogLine{RunID: runID, Seq: seq + int64(i) + 1, Timestamp: at, Level: e.level, Message: m.Mask(e.msg)}
	}
	return lines
}

// notStored is an output file a run could not keep, and why.
type notStored struct{ name, reason string }

// maxMissedLines bounds the log lines that name output files not stored;
// the rest are counted in one more line.
const maxMissedLines = 20

// collect stores every file under outputs/ and the workspace files the robot
// created or changed as run artifacts. It goes on past a file it cannot
// store (over MAX_ARTIFACT_BYTES, past maxArtifacts, a full disk, …) and
// returns how many there were, naming the first maxMissedLines.
//
// File names are masked by m: a secret in a name is not stored either
// (two names that mask to one are told apart by a number).
func (w *Worker) collect(ctx context.Context, runID, runDir, workspace string, copied map[string]fileState, m *Masker) (arts []hub.Artifact, missed []notStored, nMissed int) {
	used := map[string]bool{}
	miss := func(name, reason string) {
		if nMissed++; len(missed) < maxMissedLines {
			missed = append(missed, notStored{name, reason})
		}
	}
	walk := func(root, prefix string, keep func(rel string, info fs.FileInfo) bool) {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
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
			rel = uniqueName(used, prefix, m.Mask(rel))
			name := path.Join(prefix, rel)
			if len(arts) >= maxArtifacts-1 { // one is run.log
				miss(name, fmt.Sprintf("a run keeps at most %d files", maxArtifacts))
				return nil
			}
			a, err := w.store(ctx, p, name, runID)
			if err != nil {
				miss(name, whyNotStored(err, w.cfg.MaxArtifactBytes))
				return nil
			}
			arts = append(arts, *a)
			return nil
		})
	}
	walk(filepath.Join(runDir, "outputs"), "outputs", func(string, fs.FileInfo) bool { return true })
	if workspace != "" {
		walk(workspace, "workspace", func(rel string, info fs.FileInfo) bool {
			old, ok := copied[rel]
			return !ok || old.size != info.Size() || !old.mod.Equal(info.ModTime())
		})
	}
	return arts, missed, nMissed
}

// uniqueName returns rel, or rel with a number before its extension when
// prefix/rel is taken already; it records the name it returns.
func uniqueName(used map[string]bool, prefix, rel string) string {
	out := rel
	for n := 2; used[path.Join(prefix, out)]; n++ {
		ext := path.Ext(rel)
		out = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(rel, ext), n, ext)
	}
	used[path.Join(prefix, out)] = true
	return out
}

// configRunEnv returns the variables of a run's configuration that may be
// set (valid names, not reserved: hub.ReservedEnvKey), and names the others
// (stored before a rule, or by other means).
func configRunEnv(c *hub.RunConfig) (map[string]string, []string) {
	out := make(map[string]string, len(c.Env))
	var dropped []string
	for k, v := range c.Env {
		if !hub.ValidEnvName(k) || hub.ReservedEnvKey(k) || strings.ContainsRune(v, 0) {
			dropped = append(dropped, k)
			continue
		}
		out[k] = v
	}
	slices.Sort(dropped)
	return out, dropped
}

// describeConfig lists a configuration's keys, secrets marked.
func describeConfig(c *hub.RunConfig) string {
	keys := slices.Sorted(maps.Keys(c.Env))
	for i, k := range keys {
		if c.Secrets[k] {
			keys[i] = k + " (secret)"
		}
	}
	return strings.Join(keys, ", ")
}

// missedLines reports the output files collect could not store.
func missedLines(missed []notStored, n int) []logEntry {
	out := make([]logEntry, 0, len(missed)+1)
	for _, m := range missed {
		out = append(out, logEntry{hub.LevelError, "Output file not stored: " + m.name + ": " + m.reason})
	}
	if more := n - len(missed); more > 0 {
		out = append(out, logEntry{hub.LevelError, fmt.Sprintf("%d more output files not stored.", more)})
	}
	return out
}

// whyNotStored says why store failed, in words for the run's log.
func whyNotStored(err error, limit int64) string {
	switch {
	case hub.ErrorKind(err) == hub.ETooLarge:
		return fmt.Sprintf("larger than MAX_ARTIFACT_BYTES (%d bytes)", limit)
	case hub.ErrorKind(err) != hub.EInternal:
		return hub.ErrorMessage(err)
	}
	return err.Error()
}

// store hands one file of run runID to the artifact store under name (a
// path inside the run). A file over MAX_ARTIFACT_BYTES fails with an error
// of kind hub.ETooLarge before any copying.
func (w *Worker) store(ctx context.Context, abs, name, runID string) (*hub.Artifact, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if w.cfg.MaxArtifactBytes > 0 && info.Size() > w.cfg.MaxArtifactBytes {
		return nil, hub.Errorf(hub.ETooLarge, "larger than MAX_ARTIFACT_BYTES")
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("store artifact %s: %w", name, err)
	}
	// A file that grows while it is sent is cut at the size hashed; the
	// reader seeks, so that an upload cut by the network is sent again.
	return w.state.StoreArtifact(ctx, runID, w.cfg.ID, name, size, hex.EncodeToString(h.Sum(nil)), io.NewSectionReader(f, 0, size))
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
