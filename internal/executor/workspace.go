package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/archive"
	"automationhub/internal/hub"
)

// fileState remembers a package file as copied into a run's workspace, to
// tell afterwards which files the robot created or changed.
type fileState struct {
	size int64
	mod  time.Time
}

// A version's cache folder holds its unpacked files under cacheFiles and the
// SHA-256 of each in cacheManifest, written when it was unpacked.
const (
	cacheFiles    = "files"
	cacheManifest = "manifest.json"
)

// errCacheChanged says a cached package no longer matches its manifest.
var errCacheChanged = errors.New("the cached package does not match what was unpacked")

// packageCache returns the folder holding the version's unpacked package and
// the SHA-256 of each of its files, unpacking it once per version (safe
// extraction, publish limits). The package's SHA-256 is checked against the
// version before unpacking. A cache folder without a manifest (an older
// layout) is unpacked again.
func (w *Worker) packageCache(v *hub.Version, pkgPath string) (string, map[string]string, error) {
	dir := filepath.Join(w.cfg.WorkDir, "cache", v.ID)
	if sums, err := readManifest(dir); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // last use, for cache retention
		return filepath.Join(dir, cacheFiles), sums, nil
	}
	_ = os.RemoveAll(dir)
	f, err := os.Open(pkgPath)
	if err != nil {
		return "", nil, fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", nil, fmt.Errorf("read package: %w", err)
	}
	if v.ArtifactSHA256 != nil && hex.EncodeToString(h.Sum(nil)) != *v.ArtifactSHA256 {
		w.forgetPackage(v)
		return "", nil, fmt.Errorf("package integrity check failed: SHA-256 of %s does not match the published version", *v.ArtifactPath)
	}
	tmp := filepath.Join(w.cfg.WorkDir, "cache", ".tmp-"+uuid.NewString())
	if err := os.MkdirAll(filepath.Join(tmp, cacheFiles), 0o750); err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	if _, err := archive.Extract(f, size, filepath.Join(tmp, cacheFiles), w.cfg.Limits); err != nil {
		// A refused package says why in its message; any other failure (the
		// file system's) in its own text, never as a generic internal error.
		msg := err.Error()
		if hub.ErrorKind(err) != hub.EInternal {
			msg = hub.ErrorMessage(err)
		}
		return "", nil, fmt.Errorf("unpack package: %s", msg)
	}
	sums, err := hashTree(filepath.Join(tmp, cacheFiles))
	if err != nil {
		return "", nil, fmt.Errorf("unpack package: %w", err)
	}
	b, _ := json.Marshal(sums)
	if err := os.WriteFile(filepath.Join(tmp, cacheManifest), b, 0o640); err != nil {
		return "", nil, fmt.Errorf("unpack package: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if sums, rerr := readManifest(dir); rerr == nil {
			return filepath.Join(dir, cacheFiles), sums, nil // another run unpacked it first
		}
		return "", nil, fmt.Errorf("unpack package: %w", err)
	}
	return filepath.Join(dir, cacheFiles), sums, nil
}

// fetchPackage returns the local copy of version v's package, fetched
// through the run state once per version (runID is a run of v this worker
// holds) and checked against the version's SHA-256 before it is kept.
func (w *Worker) fetchPackage(ctx context.Context, runID string, v *hub.Version) (string, error) {
	dir := filepath.Join(w.cfg.WorkDir, "cache", "pkg-"+v.ID)
	file := filepath.Join(dir, "package")
	if _, err := os.Stat(file); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // last use, for cache retention
		return file, nil
	}
	rc, err := w.state.OpenPackage(ctx, runID, w.cfg.ID, v)
	if err != nil {
		if k := hub.ErrorKind(err); k == hub.ENotFound {
			return "", fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
		} else if k != hub.EInternal {
			return "", fmt.Errorf("download package: %s", hub.ErrorMessage(err))
		}
		return "", fmt.Errorf("download package: %w", err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("package cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", fmt.Errorf("package cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("download package: %w", err)
	}
	if v.ArtifactSHA256 != nil && hex.EncodeToString(h.Sum(nil)) != *v.ArtifactSHA256 {
		return "", fmt.Errorf("package integrity check failed: SHA-256 of %s does not match the published version", *v.ArtifactPath)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return "", fmt.Errorf("package cache: %w", err)
	}
	return file, nil
}

// forgetPackage removes a version's fetched package, to fetch it again.
func (w *Worker) forgetPackage(v *hub.Version) {
	_ = os.RemoveAll(filepath.Join(w.cfg.WorkDir, "cache", "pkg-"+v.ID))
}

// forgetCache removes a version's cache folder, to unpack it again.
func (w *Worker) forgetCache(v *hub.Version) {
	_ = os.RemoveAll(filepath.Join(w.cfg.WorkDir, "cache", v.ID))
}

func readManifest(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, cacheManifest))
	if err != nil {
		return nil, err
	}
	var sums map[string]string
	if err := json.Unmarshal(b, &sums); err != nil {
		return nil, err
	}
	return sums, nil
}

// hashTree returns the SHA-256 of every regular file below root, by
// slash-separated relative path.
func hashTree(root string) (map[string]string, error) {
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return sums, err
}

// copyTree copies the cached package into a run's fresh workspace and
// returns what it copied. Every file is hashed as it is copied and must
// match the manifest taken when the package was unpacked, and no file may be
// missing or added (errCacheChanged): a cache changed behind the worker's
// back never reaches a robot.
func copyTree(src, dst string, sums map[string]string) (map[string]fileState, error) {
	copied := map[string]fileState{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want, ok := sums[filepath.ToSlash(rel)]
		if !ok {
			return fmt.Errorf("%w: %s was added", errCacheChanged, filepath.ToSlash(rel))
		}
		got, err := copyFile(path, target, info.Mode().Perm())
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%w: %s was modified", errCacheChanged, filepath.ToSlash(rel))
		}
		st, err := os.Stat(target)
		if err != nil {
			return err
		}
		copied[filepath.ToSlash(rel)] = fileState{size: st.Size(), mod: st.ModTime()}
		return nil
	})
	if err == nil && len(copied) != len(sums) {
		err = fmt.Errorf("%w: %d of its %d files are missing", errCacheChanged, len(sums)-len(copied), len(sums))
	}
	return copied, err
}

// copyFile copies src to a new file dst and returns the SHA-256 of what it
// copied.
func copyFile(src, dst string, perm fs.FileMode) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o200)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), out.Close()
}
