package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"automationhub/internal/archive"
	"automationhub/internal/config"
	"automationhub/internal/hub"
	"automationhub/internal/pyenv"
	"automationhub/internal/registry"
)

// packageEpoch is the modification time of every entry of a built package,
// so that the same folder always gives the same bytes. (The ZIP format
// cannot store dates before 1980.)
var packageEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// Folders and files that never go into a package: caches, version control,
// editor and OS litter, and local .env files (secrets belong in the version's
// env_vars or the run's runtime_env, not in a package every maintainer can
// download).
var (
	skipDirs  = []string{".git", ".hg", ".svn", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".idea", ".vscode"}
	skipFiles = []string{".DS_Store", "Thumbs.db", "desktop.ini", ".env"}
	skipExts  = []string{".pyc", ".pyo", ".swp"}
)

func skipped(name string, dir bool) bool {
	if dir {
		return slices.Contains(skipDirs, name)
	}
	return slices.Contains(skipFiles, name) || slices.Contains(skipExts, strings.ToLower(filepath.Ext(name))) || strings.HasSuffix(name, "~")
}

// packageFile is one entry of a package being built.
type packageFile struct {
	name string // slash-separated, relative to the folder; folders end in "/"
	exec bool
}

// builtPackage is what `hub package` reports.
type builtPackage struct {
	Path       string
	Size       int64
	SHA256     string
	Entrypoint registry.Entrypoint
	Manifest   *archive.Manifest
}

// runPackage is `hub package DIR [-o FILE]`.
func runPackage(args, environ []string, stdout, stderr io.Writer) int {
	var dir, out string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			fmt.Fprintln(stdout, "Usage: hub package DIR [-o FILE]\n\n"+
				"Builds a robot package (ZIP) from the folder DIR and checks it as publish does:\n"+
				"robot.yaml at the top of the folder, the entry point it names (default main.py),\n"+
				"and the MAX_ARTIFACT_* limits. FILE defaults to DIR's name with .zip, in the\n"+
				"current folder.")
			return exitOK
		case a == "-o" || a == "--output":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "hub package: %s needs a file name\n", a)
				return exitUsage
			}
			i++
			out = args[i]
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--output="):
			_, out, _ = strings.Cut(a, "=")
		case strings.HasPrefix(a, "-") && a != "-":
			fmt.Fprintf(stderr, "hub package: unknown option %q (see hub package --help)\n", a)
			return exitUsage
		case dir != "":
			fmt.Fprintf(stderr, "hub package: unexpected argument %q (see hub package --help)\n", a)
			return exitUsage
		default:
			dir = a
		}
	}
	if dir == "" {
		fmt.Fprintln(stderr, "hub package: missing folder (usage: hub package DIR [-o FILE])")
		return exitUsage
	}
	cfg, _, err := loadConfig(environ, ".env")
	if err != nil {
		fmt.Fprintf(stderr, "hub: %v\n", err)
		return exitUsage
	}
	p, err := buildPackage(dir, out, cfg)
	if err != nil {
		msg := err.Error()
		if hub.ErrorKind(err) != hub.EInternal {
			msg = hub.ErrorMessage(err)
		}
		fmt.Fprintf(stderr, "hub package: %s: %s\n", dir, msg)
		return exitFailed
	}
	fmt.Fprintf(stdout, "package:     %s\n", p.Path)
	fmt.Fprintf(stdout, "size:        %d bytes (%d files)\n", p.Size, p.Manifest.Files)
	fmt.Fprintf(stdout, "sha256:      %s\n", p.SHA256)
	fmt.Fprintf(stdout, "entry point: %s (%s)\n", p.Entrypoint.Path, p.Entrypoint.Type)
	if keys := p.Manifest.Robot.RequiredEnv; len(keys) > 0 {
		fmt.Fprintf(stdout, "needs env:   %s\n", strings.Join(keys, ", "))
	}
	return exitOK
}

// buildPackage zips the folder dir into out (default: the folder's name with
// .zip, in the working directory) and checks the result with the same code
// and limits publish uses. The file appears only when every check passed.
func buildPackage(dir, out string, cfg config.Config) (*builtPackage, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(absDir); err != nil {
		return nil, hub.Errorf(hub.EInvalid, "The folder cannot be read: %v.", errors.Unwrap(err))
	} else if !fi.IsDir() {
		return nil, hub.Errorf(hub.EInvalid, "Not a folder.")
	}
	if out == "" {
		out = filepath.Base(absDir) + ".zip"
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	realDir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return nil, err
	}
	// The package may be written inside the folder; it must not pack itself.
	realOut := absOut
	if d, err := filepath.EvalSymlinks(filepath.Dir(absOut)); err == nil {
		realOut = filepath.Join(d, filepath.Base(absOut))
	}
	files, err := packageFiles(realDir, realOut)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(absOut), ".hub-package-*.zip")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", out, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // a no-op after the rename
	}()
	sum := sha256.New()
	if err := writePackage(io.MultiWriter(tmp, sum), realDir, files); err != nil {
		return nil, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	if size > cfg.MaxArtifactBytes {
		return nil, hub.Errorf(hub.EInvalid, "The package is %d bytes, more than MAX_ARTIFACT_BYTES (%d).", size, cfg.MaxArtifactBytes)
	}
	m, err := archive.Inspect(tmp, size, archive.Limits{MaxFiles: cfg.MaxArtifactFiles, MaxUnpackedBytes: cfg.MaxArtifactUnpackedBytes})
	if err != nil {
		return nil, err
	}
	switch rf := m.Robot; {
	case rf.Name == "":
		return nil, hub.Errorf(hub.EInvalid, "There is no robot.yaml at the top of the folder.")
	case strings.Contains(rf.Name, "/"):
		return nil, hub.Errorf(hub.EInvalid, "robot.yaml must be at the top of the folder, not at %s.", rf.Name)
	case len(rf.Problems) > 0:
		return nil, hub.Errorf(hub.EInvalid, "%s: %s", rf.Name, strings.Join(rf.Problems, " "))
	}
	ep, err := registry.PackageEntrypoint(m, registry.Entrypoint{})
	if err != nil {
		return nil, err
	}
	if err := pyenv.CheckPackage(m); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), absOut); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	return &builtPackage{Path: out, Size: size, SHA256: hex.EncodeToString(sum.Sum(nil)), Entrypoint: ep, Manifest: m}, nil
}

// packageFiles lists what goes into the package of the folder realDir (a
// path without symbolic links), sorted by name: folders and regular files,
// and files that symbolic links inside the folder point at, without the
// skipped litter and without skip (the package being written). Links leading
// out of the folder, links to folders and special files are refused.
func packageFiles(realDir, skip string) ([]packageFile, error) {
	var files []packageFile
	err := filepath.WalkDir(realDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == realDir {
			return nil
		}
		rel, err := filepath.Rel(realDir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if skipped(d.Name(), d.IsDir()) || p == skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return hub.Errorf(hub.EInvalid, "%s is a symbolic link to nothing.", name)
			}
			if back, err := filepath.Rel(realDir, target); err != nil || !filepath.IsLocal(back) {
				return hub.Errorf(hub.EInvalid, "%s is a symbolic link that leads out of the folder.", name)
			}
			if info, err = os.Stat(target); err != nil {
				return err
			}
			if mode = info.Mode(); mode.IsDir() {
				return hub.Errorf(hub.EInvalid, "%s is a symbolic link to a folder; only links to files are followed.", name)
			}
		}
		switch {
		case mode.IsDir():
			files = append(files, packageFile{name: name + "/"})
		case mode.IsRegular():
			files = append(files, packageFile{name: name, exec: mode.Perm()&0o111 != 0})
		default:
			return hub.Errorf(hub.EInvalid, "%s is not a regular file or folder.", name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b packageFile) int { return strings.Compare(a.name, b.name) })
	return files, nil
}

// writePackage writes files of dir as a ZIP to w with fixed times and modes
// (0o644, 0o755 for executables and folders).
func writePackage(w io.Writer, dir string, files []packageFile) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: packageEpoch}
		switch {
		case strings.HasSuffix(f.name, "/"):
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
		case f.exec:
			h.SetMode(0o755)
		default:
			h.SetMode(0o644)
		}
		dst, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", f.name, err)
		}
		if h.Method == zip.Store {
			continue
		}
		if err := copyFileTo(dst, filepath.Join(dir, filepath.FromSlash(f.name))); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}

func copyFileTo(w io.Writer, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}
