package executor

import (
	"crypto/sha256"
	"encoding/hex"
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

// packageCache returns the folder holding the version's unpacked package,
// unpacking it once per version (safe extraction, publish limits). The
// package's SHA-256 is checked against the version before unpacking.
func (w *Worker) packageCache(v *hub.Version, pkgPath string) (string, error) {
	dir := filepath.Join(w.cfg.WorkDir, "cache", v.ID)
	if _, err := os.Stat(dir); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // last use, for cache retention
		return dir, nil
	}
	f, err := os.Open(pkgPath)
	if err != nil {
		return "", fmt.Errorf("Version artifact not found: %s", *v.ArtifactPath)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("read package: %w", err)
	}
	if v.ArtifactSHA256 != nil && hex.EncodeToString(h.Sum(nil)) != *v.ArtifactSHA256 {
		return "", fmt.Errorf("package integrity check failed: SHA-256 of %s does not match the published version", *v.ArtifactPath)
	}
	tmp := filepath.Join(w.cfg.WorkDir, "cache", ".tmp-"+uuid.NewString())
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := archive.Extract(f, size, tmp, w.cfg.Limits); err != nil {
		// A refused package says why in its message; any other failure (the
		// file system's) in its own text, never as a generic internal error.
		msg := err.Error()
		if hub.ErrorKind(err) != hub.EInternal {
			msg = hub.ErrorMessage(err)
		}
		return "", fmt.Errorf("unpack package: %s", msg)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return dir, nil // another run unpacked it first
		}
		return "", fmt.Errorf("unpack package: %w", err)
	}
	return dir, nil
}

// copyTree copies the cached package into a run's fresh workspace and
// returns what it copied.
func copyTree(src, dst string) (map[string]fileState, error) {
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
		if err := copyFile(path, target, info.Mode().Perm()); err != nil {
			return err
		}
		st, err := os.Stat(target)
		if err != nil {
			return err
		}
		copied[filepath.ToSlash(rel)] = fileState{size: st.Size(), mod: st.ModTime()}
		return nil
	})
	return copied, err
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
