// Package blob stores artifacts (robot packages, run outputs) as files in a
// local folder, the ARTIFACTS_ROOT shared by the API and the workers. Uploads
// stream into a temporary file, are validated by the caller, and then move
// into place atomically under a key such as
// "robots/<robot>/<version>/artifact.zip".
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"automationhub/internal/hub"
)

// Errors callers test for with errors.Is.
var (
	// ErrTooLarge is returned by Upload.Write (and later by Commit) once more
	// bytes than the upload's limit were written.
	ErrTooLarge = errors.New("blob: upload exceeds the size limit")
	// ErrExists is returned by Commit when the key is taken and replacing
	// was not asked for.
	ErrExists = errors.New("blob: key already exists")
	// ErrNotFound is returned when no file is stored under a key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey is returned for a key that is not a clean relative
	// slash-separated path. Keys are built by the hub, so this is a bug, not
	// bad input.
	ErrInvalidKey = errors.New("blob: invalid key")
)

// tmpDir is the folder under the root that holds uploads in progress. No key
// may start with it.
const tmpDir = ".tmp"

// Local stores files under Root by key. Keys use "/" as separator and are
// validated before any path is built from them: relative, no "." or ".."
// segments, no empty segments, no backslashes, drive letters or NUL bytes,
// and not inside the temporary folder.
type Local struct {
	root string // absolute
	tmp  string // root/.tmp
}

// NewLocal returns a store rooted at root, creating root and root/.tmp
// (mode 0o750) when missing.
func NewLocal(root string) (*Local, error) {
	if strings.TrimSpace(root) == "" {
		return nil, errors.New("blob: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: root: %w", err)
	}
	l := &Local{root: abs, tmp: filepath.Join(abs, tmpDir)}
	if err := os.MkdirAll(l.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("blob: create root: %w", err)
	}
	return l, nil
}

// Root returns the absolute folder of the store.
func (l *Local) Root() string { return l.root }

// checkKey rejects anything but a clean relative slash-separated path.
func checkKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case strings.ContainsAny(key, "\\\x00"):
		return bad("contains a backslash or NUL byte")
	case strings.HasPrefix(key, "/"):
		return bad("absolute")
	case len(key) >= 2 && key[1] == ':':
		return bad("drive letter")
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad(`"." or ".." segment`)
		case strings.Trim(seg, ". ") == "":
			return bad("segment of only dots or spaces")
		case i == 0 && seg == tmpDir:
			return bad("reserved prefix")
		}
	}
	return nil
}

// Path returns the absolute file path of a valid key (workers open packages
// by path). It does not check that the file exists.
func (l *Local) Path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(l.root, filepath.FromSlash(key))
	// Defence in depth: the key check already guarantees this.
	if rel, err := filepath.Rel(l.root, p); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w %q: outside the root", ErrInvalidKey, key)
	}
	return p, nil
}

// Open opens the file stored under key for reading; ErrNotFound when there
// is none.
func (l *Local) Open(key string) (*os.File, error) {
	p, err := l.Path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(key, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("blob: stat %q: %w", key, err)
		}
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return f, nil
}

// Stat returns the size and modification time of the file stored under key;
// ErrNotFound when there is none.
func (l *Local) Stat(key string) (size int64, mod time.Time, err error) {
	p, err := l.Path(key)
	if err != nil {
		return 0, time.Time{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, time.Time{}, notFound(key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, time.Time{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return fi.Size(), fi.ModTime(), nil
}

// Delete removes the file stored under key and then every parent folder that
// became empty, up to but not including the root. A missing file is not an
// error; a folder is never removed as if it were a file.
func (l *Local) Delete(key string) error {
	p, err := l.Path(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Fall through to pruning: an earlier Delete may have stopped
		// half-way.
	case err != nil:
		return fmt.Errorf("blob: delete %q: %w", key, err)
	case fi.IsDir():
		return fmt.Errorf("blob: delete %q: is a folder", key)
	default:
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: delete %q: %w", key, err)
		}
	}
	for dir := filepath.Dir(p); dir != l.root && strings.HasPrefix(dir, l.root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		// Remove fails on a folder that is not empty (or is being filled
		// by a concurrent Commit, which retries): stop there.
		if err := os.Remove(dir); err != nil {
			break
		}
	}
	return nil
}

// Leftovers lists the temporary files older than age, absolute paths sorted
// by name: uploads that were neither committed nor aborted, typically
// because the process crashed. The cleanup worker removes them.
func (l *Local) Leftovers(age time.Duration) ([]string, error) {
	ents, err := os.ReadDir(l.tmp)
	if err != nil {
		return nil, fmt.Errorf("blob: list temporary files: %w", err)
	}
	cutoff := time.Now().Add(-age)
	out := []string{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if fi.ModTime().Before(cutoff) {
			out = append(out, filepath.Join(l.tmp, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

func notFound(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return fmt.Errorf("blob: %q: %w", key, err)
}

// Create starts an upload into a new temporary file under root/.tmp. Write
// fails with ErrTooLarge once more than limit bytes were written; limit <= 0
// means no limit. The caller must call Commit or Abort (defer Abort is safe
// after Commit). Create, Write and Commit report a full disk as a
// hub.EUnavailable error (hub.DiskFull).
func (l *Local) Create(limit int64) (*Upload, error) {
	f, err := os.CreateTemp(l.tmp, "upload-*")
	if err != nil {
		return nil, markDiskFull(fmt.Errorf("blob: create upload: %w", err))
	}
	return &Upload{l: l, name: f.Name(), f: f, limit: limit, hash: sha256.New()}, nil
}

// Upload is an upload in progress. It is an io.Writer (the content) and an
// io.ReaderAt (reading back what was written, for validation before
// Commit). Its methods may be called from several goroutines, but the bytes
// of concurrent Writes interleave in an unspecified order.
type Upload struct {
	l     *Local
	name  string // temporary file
	limit int64

	mu        sync.Mutex
	f         *os.File // nil once closed
	hash      hash.Hash
	size      int64
	err       error // sticky write error
	committed bool
	aborted   bool
}

// Write appends p to the upload, counting bytes and hashing them. Once the
// limit would be passed it writes the part that fits and returns ErrTooLarge;
// every later Write and Commit fail with it too.
func (u *Upload) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return 0, u.err
	}
	if u.f == nil {
		return 0, errors.New("blob: write to a finished upload")
	}
	var over bool
	if u.limit > 0 && int64(len(p)) > u.limit-u.size {
		p, over = p[:u.limit-u.size], true
	}
	n, err := u.f.Write(p)
	u.hash.Write(p[:n])
	u.size += int64(n)
	if err != nil {
		u.err = markDiskFull(fmt.Errorf("blob: write upload: %w", err))
		return n, u.err
	}
	if over {
		u.err = ErrTooLarge
		return n, ErrTooLarge
	}
	return n, nil
}

// ReadAt reads back the bytes written so far.
func (u *Upload) ReadAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	f, size := u.f, u.size
	u.mu.Unlock()
	if f == nil {
		return 0, errors.New("blob: read from a finished upload")
	}
	if off >= size {
		return 0, io.EOF
	}
	// Never read past what Write accounted for.
	if int64(len(p)) > size-off {
		n, err := f.ReadAt(p[:size-off], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return f.ReadAt(p, off)
}

// Size returns the number of bytes written.
func (u *Upload) Size() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.size
}

// SHA256 returns the lowercase hex SHA-256 of the bytes written; final once
// writing is done.
func (u *Upload) SHA256() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return hex.EncodeToString(u.hash.Sum(nil))
}

// Commit flushes the upload to disk and moves it to key atomically, creating
// parent folders. An existing file at key is replaced only when replace is
// true; otherwise Commit returns ErrExists and leaves both files untouched,
// so the caller may Abort or Commit again. After a successful Commit the
// upload is finished.
func (u *Upload) Commit(key string, replace bool) error {
	dst, err := u.l.Path(key)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.err != nil:
		return u.err
	case u.committed:
		return errors.New("blob: upload already committed")
	case u.aborted:
		return errors.New("blob: upload was aborted")
	}
	if u.f != nil {
		f := u.f
		u.f = nil
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), 0o640)
		}
		if err != nil {
			u.err = markDiskFull(fmt.Errorf("blob: flush upload: %w", err))
			return u.err
		}
	}
	src := u.name
	// A concurrent Delete may prune the fresh parent folder between
	// MkdirAll and the move; retry a few times when that happens.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return markDiskFull(fmt.Errorf("blob: commit %q: %w", key, err))
		}
		err = place(src, dst, replace)
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			break
		}
		if _, serr := os.Stat(src); serr != nil {
			break // the temporary file itself is gone
		}
	}
	switch {
	case errors.Is(err, ErrExists):
		return fmt.Errorf("%w: %q", ErrExists, key)
	case err != nil:
		return markDiskFull(fmt.Errorf("blob: commit %q: %w", key, err))
	}
	u.committed = true
	syncDir(filepath.Dir(dst))
	return nil
}

// place moves src to dst. Without replace it uses a hard link, which fails
// atomically when dst exists, and falls back to check-then-rename on file
// systems without hard links.
func place(src, dst string, replace bool) error {
	if replace {
		return os.Rename(src, dst)
	}
	err := os.Link(src, dst)
	switch {
	case err == nil:
		_ = os.Remove(src)
		return nil
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	case errors.Is(err, fs.ErrNotExist):
		return err
	}
	// No hard links here (some network or FAT file systems): a small race
	// with a concurrent Commit to the same key remains.
	if _, serr := os.Lstat(dst); serr == nil {
		return ErrExists
	}
	return os.Rename(src, dst)
}

// syncDir makes a rename durable where the platform supports it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Abort discards the upload and removes its temporary file. It is a no-op
// after Commit and safe to call more than once.
func (u *Upload) Abort() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.committed || u.aborted {
		return
	}
	u.aborted = true
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	_ = os.Remove(u.name)
}

// markDiskFull marks err with hub.DiskFull when the file system is out of
// space or over a quota; other errors are returned unchanged.
func markDiskFull(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	full := errno == syscall.ENOSPC || errno == syscall.EDQUOT
	if runtime.GOOS == "windows" {
		// ERROR_HANDLE_DISK_FULL and ERROR_DISK_FULL.
		full = errno == 39 || errno == 112
	}
	if !full {
		return err
	}
	return hub.DiskFull(err)
}
