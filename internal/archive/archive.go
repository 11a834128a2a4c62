// Package archive validates and unpacks robot packages. A package is a ZIP
// uploaded by a user, so every part of it is hostile until checked: entry
// names (zip-slip), entry types (links, devices), entry counts, the real
// decompressed size (zip bombs, lying headers) and the integrity of the data.
// Inspect checks a package at publish time; Extract repeats every check while
// unpacking it on a worker, so a package that slipped past one of them (or was
// altered in storage) still cannot escape its folder.
package archive

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"automationhub/internal/hub"
)

// Defaults used for a Limits field that is zero or negative. They match the
// defaults of MAX_ARTIFACT_FILES and MAX_ARTIFACT_UNPACKED_BYTES.
const (
	DefaultMaxFiles         = 10_000
	DefaultMaxUnpackedBytes = int64(4 << 30)
)

// ZIP "version made by" hosts whose external attributes carry a Unix mode,
// and the file type bits of that mode.
const (
	creatorUnix   = 3
	creatorMacOSX = 19
	unixTypeMask  = 0o170000
	unixRegular   = 0o100000
	unixDir       = 0o040000
)

// Path limits of a package: the longest name of one file or folder (what
// Linux, Windows and macOS file systems accept, counted in UTF-8 bytes) and
// the longest path. A package with a longer name would publish but could
// never be unpacked on a worker.
const (
	MaxNameBytes = 255
	MaxPathBytes = 1024
)

// maxManifestBytes is the largest robot.yaml that is read for metadata.
const maxManifestBytes = 64 << 10

// Limits bound what a package may contain. A zero or negative field means the
// corresponding Default* value, never "unlimited".
type Limits struct {
	// MaxFiles is the most entries (files and folders) a ZIP may hold.
	MaxFiles int
	// MaxUnpackedBytes is the largest total size of all entries once
	// decompressed, counted on the real bytes, not on header claims.
	MaxUnpackedBytes int64
}

func (l Limits) normalised() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxUnpackedBytes <= 0 {
		l.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	return l
}

// Manifest describes a validated ZIP.
type Manifest struct {
	// Files is the number of regular files.
	Files int
	// UnpackedBytes is the total decompressed size of all files.
	UnpackedBytes int64
	// Names holds the normalised names of regular files ("dir/file.py").
	Names map[string]bool
	// Dirs holds every folder implied by an entry, explicit or as a parent of
	// another entry, normalised and without a trailing slash.
	Dirs map[string]bool
	// Robot is what the package's robot.yaml declares.
	Robot RobotFile
	// Requirements and Pyproject are the package's requirements.txt and
	// pyproject.toml at its root (nil when it has none), the first
	// MaxRequirementsBytes of them; RequirementsOver notes a larger one.
	Requirements, Pyproject []byte
	RequirementsOver        bool
}

// MaxRequirementsBytes is how much of a requirements.txt or pyproject.toml
// Inspect keeps.
const MaxRequirementsBytes = 1 << 20

// RobotFile is what a package's robot.yaml declares. The file is optional. It
// is the package's robot.yaml or robot.yml (any case) at the root, else the
// first one in archive order. Publish uses what it can read and ignores the
// rest, so that packages of the previous backend keep publishing; `hub
// package` refuses a file with Problems.
type RobotFile struct {
	// Name is the package path of the file that was read; "" when the
	// package has none.
	Name string
	// EntrypointPath and EntrypointType are the entrypoint_path and
	// entrypoint_type values, as written; "" when absent.
	EntrypointPath string
	EntrypointType string
	// RequiredEnv are the environment variables listed under required_env,
	// env.required and requirements.env: trimmed, de-duplicated and sorted;
	// never nil.
	RequiredEnv []string
	// RuntimeEnv are the variables a run may set when it starts (the
	// runtime_env list): valid names that are not reserved
	// (hub.ReservedEnvKey), de-duplicated and sorted; never nil. Other
	// names are left out and noted in Problems and RuntimeEnvProblems.
	RuntimeEnv []string
	// RuntimeEnvProblems is what was wrong with runtime_env, which publish
	// refuses (it is new, so no older package relies on it).
	RuntimeEnvProblems []string
	// Python is the interpreter version the robot asks for (python:
	// "3.11"), "" for any; PythonProblems is what was wrong with it, which
	// publish refuses.
	Python         string
	PythonProblems []string
	// Problems says what could not be read, one sentence each (e.g.
	// "required_env must be a list of strings.").
	Problems []string
}

// Inspect validates the ZIP at r (size bytes) and reads every entry fully, so
// that CRC errors and decompression bombs are caught on real byte counts. Every
// problem with the package is a hub.EInvalid error naming it.
func Inspect(r io.ReaderAt, size int64, lim Limits) (*Manifest, error) {
	zr, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	p, err := plan(zr, lim.normalised())
	if err != nil {
		return nil, err
	}
	if err := p.unpack(discardSink{}); err != nil {
		return nil, err
	}
	return p.m, nil
}

// Extract unpacks a ZIP into dest, which must be an existing, empty folder,
// with the same checks as Inspect. Names and types of all entries are checked
// before anything is written; if a later check fails (corrupt data, size
// budget) everything written so far is removed, leaving dest empty. Files get
// mode 0o644, or 0o755 when the ZIP marks them executable; folders 0o755.
// Files are created exclusively through an os.Root on dest, so an existing
// entry or link is never followed or overwritten.
func Extract(r io.ReaderAt, size int64, dest string, lim Limits) (m *Manifest, err error) {
	absDest, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("archive: extract destination: %w", err)
	}
	if fi, err := os.Stat(absDest); err != nil {
		return nil, fmt.Errorf("archive: extract destination: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("archive: extract destination %s is not a folder", absDest)
	}
	if ents, err := os.ReadDir(absDest); err != nil {
		return nil, fmt.Errorf("archive: extract destination: %w", err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("archive: extract destination %s is not empty", absDest)
	}
	zr, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	p, err := plan(zr, lim.normalised())
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(absDest)
	if err != nil {
		return nil, fmt.Errorf("archive: extract destination: %w", err)
	}
	defer root.Close()
	defer func() {
		if err != nil {
			removeContents(root)
		}
	}()
	s := &diskSink{root: root, dest: absDest}
	if err := p.unpack(s); err != nil {
		return nil, err
	}
	// MkdirAll honours the umask; give every folder its documented mode.
	for d := range p.m.Dirs {
		if err := root.Chmod(filepath.FromSlash(d), 0o755); err != nil {
			return nil, fmt.Errorf("archive: extract %q: %w", d, err)
		}
	}
	return p.m, nil
}

// removeContents deletes everything inside root (whose folder was empty
// before Extract started).
func removeContents(root *os.Root) {
	f, err := root.Open(".")
	if err != nil {
		return
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, n := range names {
		_ = root.RemoveAll(n)
	}
}

// CleanRelPath normalises a user-supplied path inside a package
// ("./src\\main.py" becomes "src/main.py"): backslashes are separators, "."
// and empty segments are dropped, a trailing slash is removed. It rejects
// absolute paths (leading / or \), drive letters (C:), UNC paths (\\server),
// ".." segments (and other segments made only of dots and spaces, which
// Windows resolves specially), NUL bytes, names longer than MaxNameBytes,
// paths longer than MaxPathBytes and an empty result, with a hub.EInvalid
// error.
func CleanRelPath(p string) (string, error) {
	clean, prob := cleanRel(p)
	if prob != nil {
		return "", hub.Errorf(hub.EInvalid, "Invalid path %s: %s.", quote(p), prob.why)
	}
	return clean, nil
}

// pathProblem says why a path was rejected; escape is true when the path
// would leave the package folder.
type pathProblem struct {
	escape bool
	why    string
}

func cleanRel(p string) (string, *pathProblem) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", &pathProblem{why: "NUL byte in name"}
	}
	s := strings.ReplaceAll(p, `\`, "/")
	switch {
	case strings.HasPrefix(s, "//"):
		return "", &pathProblem{escape: true, why: "UNC path"}
	case strings.HasPrefix(s, "/"):
		return "", &pathProblem{escape: true, why: "absolute path"}
	case len(s) >= 2 && s[1] == ':' && isASCIILetter(s[0]):
		return "", &pathProblem{escape: true, why: "drive letter"}
	}
	segs := strings.Split(s, "/")
	out := segs[:0]
	for _, seg := range segs {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", &pathProblem{escape: true, why: `".." segment`}
		case strings.Trim(seg, ". ") == "":
			// "...", ". ", " ": Windows trims trailing dots and spaces,
			// turning these into "." or ".." or an empty name.
			return "", &pathProblem{escape: true, why: "segment of only dots or spaces"}
		case len(seg) > MaxNameBytes:
			return "", &pathProblem{why: fmt.Sprintf("a file or folder name longer than %d bytes", MaxNameBytes)}
		}
		out = append(out, seg)
	}
	if len(out) == 0 {
		return "", &pathProblem{why: "empty name"}
	}
	clean := strings.Join(out, "/")
	if len(clean) > MaxPathBytes {
		return "", &pathProblem{why: fmt.Sprintf("a path longer than %d bytes", MaxPathBytes)}
	}
	return clean, nil
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// IsWindowsExecutable reports whether the data starts with an MZ header, the
// signature of Windows executables.
func IsWindowsExecutable(r io.ReaderAt) bool {
	var b [2]byte
	n, _ := r.ReadAt(b[:], 0)
	return n == 2 && b[0] == 'M' && b[1] == 'Z'
}

// ---------------------------------------------------------------------------
// Errors

// quote renders a user-supplied name for an error message, shortened so that
// a hostile 64 KiB name does not end up in a response or a log line.
func quote(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return fmt.Sprintf("%q…", s[:maxLen])
	}
	return fmt.Sprintf("%q", s)
}

func corrupt(format string, args ...any) error {
	return hub.Errorf(hub.EInvalid, "The artifact is not a valid ZIP archive: %s.", fmt.Sprintf(format, args...))
}

func entryError(name, format string, args ...any) error {
	return hub.Errorf(hub.EInvalid, "Archive entry %s %s.", quote(name), fmt.Sprintf(format, args...))
}

func tooLarge(limit int64) error {
	return hub.Errorf(hub.EInvalid, "The package unpacks to more than %d bytes.", limit)
}

// zipReason turns a read error into the detail of a corrupt-archive message.
func zipReason(err error) string {
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return "checksum mismatch"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "data is truncated or shorter than its header says"
	case errors.Is(err, zip.ErrFormat):
		return "data does not match its header"
	}
	return strings.TrimPrefix(err.Error(), "zip: ")
}

// ---------------------------------------------------------------------------
// Checking

func openZip(r io.ReaderAt, size int64) (*zip.Reader, error) {
	switch {
	case size < 0:
		return nil, corrupt("negative size")
	case size == 0:
		return nil, corrupt("the file is empty")
	}
	zr, err := zip.NewReader(r, size)
	// ErrInsecurePath (GODEBUG=zipinsecurepath=0) comes with a usable
	// reader; names are checked here anyway.
	switch {
	case err == nil || errors.Is(err, zip.ErrInsecurePath):
		return zr, nil
	case errors.Is(err, zip.ErrFormat):
		return nil, corrupt("the file is truncated or not a ZIP file")
	default:
		return nil, corrupt("%s", zipReason(err))
	}
}

type entry struct {
	f    *zip.File
	name string // normalised
	dir  bool
	exec bool
}

// pending is a package whose metadata passed every check and whose content
// is still to be read.
type pending struct {
	lim     Limits
	entries []entry
	m       *Manifest
	// robot.yaml candidates: the first one at the root and the first one
	// anywhere, as indexes into entries (-1: none).
	rootYAML, anyYAML int
	buf               []byte // copy buffer shared by all entries
}

// plan checks everything that can be checked without reading entry data:
// count, names, types, flags, duplicates and the sizes headers claim.
func plan(zr *zip.Reader, lim Limits) (*pending, error) {
	if len(zr.File) > lim.MaxFiles {
		return nil, hub.Errorf(hub.EInvalid, "The package contains more than %d entries (files and folders).", lim.MaxFiles)
	}
	p := &pending{
		lim:      lim,
		entries:  make([]entry, 0, len(zr.File)),
		m:        &Manifest{Names: map[string]bool{}, Dirs: map[string]bool{}, Robot: RobotFile{RequiredEnv: []string{}, RuntimeEnv: []string{}}},
		rootYAML: -1,
		anyYAML:  -1,
	}
	seen := make(map[string]bool, len(zr.File)) // every entry name, files and explicit folders
	var claimed uint64
	for _, f := range zr.File {
		raw := f.Name
		name, prob := cleanRel(raw)
		if prob != nil {
			if prob.escape {
				return nil, entryError(raw, "escapes the package (%s)", prob.why)
			}
			return nil, entryError(raw, "has an invalid name (%s)", prob.why)
		}
		if f.Flags&0x1 != 0 {
			return nil, entryError(raw, "is encrypted; encrypted packages are not supported")
		}
		mode := f.FileInfo().Mode()
		isDir := mode.IsDir() || strings.HasSuffix(raw, "/") || strings.HasSuffix(raw, `\`)
		switch t := mode.Type() &^ fs.ModeDir; {
		case t&fs.ModeSymlink != 0:
			return nil, entryError(raw, "is a symbolic link; links are not allowed")
		case t&fs.ModeDevice != 0 || t&fs.ModeCharDevice != 0:
			return nil, entryError(raw, "is a device; only files and folders are allowed")
		case t&fs.ModeNamedPipe != 0:
			return nil, entryError(raw, "is a named pipe; only files and folders are allowed")
		case t&fs.ModeSocket != 0:
			return nil, entryError(raw, "is a socket; only files and folders are allowed")
		case t != 0:
			return nil, entryError(raw, "is not a regular file or folder")
		}
		if cv := f.CreatorVersion >> 8; cv == creatorUnix || cv == creatorMacOSX {
			// Go maps an unknown Unix file type to a regular file; refuse it.
			if t := (f.ExternalAttrs >> 16) & unixTypeMask; t != 0 && t != unixRegular && t != unixDir {
				return nil, entryError(raw, "has an unknown file type; only files and folders are allowed")
			}
		}
		if (isDir && p.m.Names[name]) || (!isDir && p.m.Dirs[name]) {
			return nil, entryError(raw, "is both a file and a folder")
		}
		if seen[name] {
			return nil, entryError(raw, "appears more than once (as %q)", name)
		}
		seen[name] = true
		if isDir {
			p.m.Dirs[name] = true
		} else {
			p.m.Names[name] = true
			p.m.Files++
		}
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if p.m.Names[d] {
				return nil, entryError(raw, "is inside %q, which is a file", d)
			}
			p.m.Dirs[d] = true
		}
		// Header sizes are claims: they may reject a package early but are
		// never what lets one through (see unpack).
		if f.UncompressedSize64 > uint64(lim.MaxUnpackedBytes)-claimed {
			return nil, tooLarge(lim.MaxUnpackedBytes)
		}
		claimed += f.UncompressedSize64
		if !isDir && f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, entryError(raw, "uses an unsupported compression method (%d)", f.Method)
		}
		i := len(p.entries)
		p.entries = append(p.entries, entry{f: f, name: name, dir: isDir, exec: mode.Perm()&0o111 != 0})
		if !isDir && isManifestName(path.Base(name)) {
			if p.anyYAML < 0 {
				p.anyYAML = i
			}
			if p.rootYAML < 0 && !strings.Contains(name, "/") {
				p.rootYAML = i
			}
		}
	}
	return p, nil
}

func isManifestName(base string) bool {
	return strings.EqualFold(base, "robot.yaml") || strings.EqualFold(base, "robot.yml")
}

// sink receives the content of a checked package.
type sink interface {
	dir(name string) error
	// file returns where the content of a file goes; it is closed after the
	// content was written in full.
	file(name string, exec bool) (io.WriteCloser, error)
}

type discardSink struct{}

func (discardSink) dir(string) error { return nil }
func (discardSink) file(string, bool) (io.WriteCloser, error) {
	return nopCloser{io.Discard}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// unpack reads every entry in archive order through the remaining size
// budget into s, verifying checksums, and fills UnpackedBytes and Robot.
func (p *pending) unpack(s sink) error {
	yamlIdx := p.rootYAML
	if yamlIdx < 0 {
		yamlIdx = p.anyYAML
	}
	var yamlBuf, reqBuf, pyprojectBuf *capBuffer
	for i, e := range p.entries {
		var w io.WriteCloser
		var err error
		if e.dir {
			if err := s.dir(e.name); err != nil {
				return err
			}
			w = nopCloser{io.Discard}
		} else if w, err = s.file(e.name, e.exec); err != nil {
			return err
		}
		var dst io.Writer = w
		if i == yamlIdx {
			yamlBuf = &capBuffer{max: maxManifestBytes}
			dst = io.MultiWriter(w, yamlBuf)
		}
		if !e.dir && e.name == "requirements.txt" {
			reqBuf = &capBuffer{max: MaxRequirementsBytes}
			dst = io.MultiWriter(dst, reqBuf)
		}
		if !e.dir && e.name == "pyproject.toml" {
			pyprojectBuf = &capBuffer{max: MaxRequirementsBytes}
			dst = io.MultiWriter(dst, pyprojectBuf)
		}
		n, err := p.copyEntry(e, dst)
		if cerr := w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("archive: write %q: %w", e.name, cerr)
		}
		if err != nil {
			return err
		}
		if e.dir && n > 0 {
			return corrupt("folder entry %s has content", quote(e.f.Name))
		}
		p.m.UnpackedBytes += n
	}
	if reqBuf != nil {
		p.m.Requirements, p.m.RequirementsOver = append([]byte{}, reqBuf.Bytes()...), reqBuf.over
	}
	if pyprojectBuf != nil {
		p.m.Pyproject = append([]byte{}, pyprojectBuf.Bytes()...)
		p.m.RequirementsOver = p.m.RequirementsOver || pyprojectBuf.over
	}
	switch {
	case yamlBuf == nil:
	case yamlBuf.over:
		p.m.Robot.Name = p.entries[yamlIdx].name
		p.m.Robot.Problems = []string{fmt.Sprintf("The file is larger than %d KiB.", maxManifestBytes>>10)}
	default:
		p.m.Robot = parseRobotFile(yamlBuf.Bytes())
		p.m.Robot.Name = p.entries[yamlIdx].name
	}
	return nil
}

// copyEntry decompresses one entry into dst, stopping one byte past the
// remaining budget, and checks its CRC-32 itself (the standard library skips
// the check when the header's CRC is zero).
func (p *pending) copyEntry(e entry, dst io.Writer) (int64, error) {
	rc, err := e.f.Open()
	if err != nil {
		return 0, corrupt("entry %s cannot be read (%s)", quote(e.f.Name), zipReason(err))
	}
	defer rc.Close()
	remaining := p.lim.MaxUnpackedBytes - p.m.UnpackedBytes
	sum := crc32.NewIEEE()
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	n, err := copyBudget(io.MultiWriter(dst, sum), rc, remaining, p.buf)
	var rerr *readError
	switch {
	case errors.As(err, &rerr):
		return n, corrupt("entry %s is corrupt (%s)", quote(e.f.Name), zipReason(rerr.err))
	case err != nil:
		return n, err
	}
	if !e.dir && sum.Sum32() != e.f.CRC32 {
		return n, corrupt("entry %s is corrupt (%s)", quote(e.f.Name), zipReason(zip.ErrChecksum))
	}
	return n, nil
}

// readError marks an error of the source (corrupt data) as opposed to one of
// the destination (disk full).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

type srcReader struct{ r io.Reader }

func (s srcReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// copyBudget copies src to dst but never reads more than budget+1 bytes; more
// than budget bytes is a too-large error whatever any header said. Read
// errors come back as *readError. buf is the copy buffer (nil: allocate one).
func copyBudget(dst io.Writer, src io.Reader, budget int64, buf []byte) (int64, error) {
	if budget < 0 {
		budget = 0
	}
	limit := budget
	if limit < math.MaxInt64 {
		limit++
	}
	// io.Copy would use dst's ReadFrom (os.File) and hide which side failed;
	// wrap both sides so errors keep their origin.
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, srcReader{io.LimitReader(src, limit)}, buf)
	if err != nil {
		return n, err
	}
	if n > budget {
		return n, tooLarge(budget)
	}
	return n, nil
}

// capBuffer keeps the first max bytes written to it and notes whether more came.
type capBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capBuffer) Write(b []byte) (int, error) {
	if room := c.max - c.Len(); len(b) > room {
		c.over = true
		c.Buffer.Write(b[:max(room, 0)])
	} else {
		c.Buffer.Write(b)
	}
	return len(b), nil
}

// ---------------------------------------------------------------------------
// Extraction

type diskSink struct {
	root *os.Root
	dest string
}

// local maps a normalised entry name to a path relative to the root, after a
// last check that it stays inside dest.
func (s *diskSink) local(name string) (string, error) {
	rel := filepath.FromSlash(name)
	target := filepath.Join(s.dest, rel)
	back, err := filepath.Rel(s.dest, target)
	if err != nil || back == "." || !filepath.IsLocal(back) || !filepath.IsLocal(rel) {
		return "", entryError(name, "is not a safe path on this system")
	}
	return rel, nil
}

func (s *diskSink) dir(name string) error {
	rel, err := s.local(name)
	if err != nil {
		return err
	}
	if err := s.root.MkdirAll(rel, 0o755); err != nil {
		return s.fsError(name, err)
	}
	return nil
}

func (s *diskSink) file(name string, exec bool) (io.WriteCloser, error) {
	rel, err := s.local(name)
	if err != nil {
		return nil, err
	}
	if parent := filepath.Dir(rel); parent != "." {
		if err := s.root.MkdirAll(parent, 0o755); err != nil {
			return nil, s.fsError(name, err)
		}
	}
	mode := fs.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	f, err := s.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return nil, s.fsError(name, err)
	}
	// OpenFile honours the umask; set the documented mode explicitly.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return nil, s.fsError(name, err)
	}
	return f, nil
}

func (s *diskSink) fsError(name string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		// Only possible when the file system folds names another entry
		// already used (case-insensitive or Unicode-normalising file systems).
		return entryError(name, "collides with another entry on this file system")
	}
	return fmt.Errorf("archive: extract %q: %w", name, err)
}

// ---------------------------------------------------------------------------
// robot.yaml

// parseRobotFile reads the keys of a robot.yaml that the hub uses. A key that
// is present but not of the expected shape is skipped and noted in Problems;
// the other keys still count.
func parseRobotFile(data []byte) (rf RobotFile) {
	rf.RequiredEnv, rf.RuntimeEnv = []string{}, []string{}
	defer func() {
		if recover() != nil { // a parser bug must not fail a publish
			rf = RobotFile{RequiredEnv: []string{}, RuntimeEnv: []string{}, Problems: []string{"The file could not be read."}}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		rf.Problems = append(rf.Problems, fmt.Sprintf("The file is not valid YAML (%s).", strings.TrimPrefix(err.Error(), "yaml: ")))
		return rf
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return rf // an empty file declares nothing
	}
	top := deref(doc.Content[0])
	if top == nil || top.Kind != yaml.MappingNode {
		rf.Problems = append(rf.Problems, "The file must be a mapping of keys to values.")
		return rf
	}
	problem := func(format string, args ...any) { rf.Problems = append(rf.Problems, fmt.Sprintf(format, args...)) }
	for _, f := range []struct {
		key string
		dst *string
	}{{"entrypoint_path", &rf.EntrypointPath}, {"entrypoint_type", &rf.EntrypointType}} {
		n, err := lookup(top, []string{f.key})
		if err == nil && n != nil {
			if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
				err = fmt.Errorf("%s must be a string", f.key)
			} else {
				*f.dst = strings.TrimSpace(n.Value)
			}
		}
		if err != nil {
			problem("%s.", err.Error())
		}
	}
	set := map[string]bool{}
	for _, at := range [][]string{{"required_env"}, {"env", "required"}, {"requirements", "env"}} {
		n, err := lookup(top, at)
		if err != nil {
			problem("%s.", err.Error())
			continue
		}
		list, ok := stringList(n)
		if !ok {
			problem("%s must be a list of strings.", strings.Join(at, "."))
		}
		for _, s := range list {
			set[s] = true
		}
	}
	for k := range set {
		rf.RequiredEnv = append(rf.RequiredEnv, k)
	}
	slices.Sort(rf.RequiredEnv)
	n, err := lookup(top, []string{"runtime_env"})
	if err != nil {
		rf.RuntimeEnvProblems = append(rf.RuntimeEnvProblems, err.Error()+".")
	}
	list, ok := stringList(n)
	if !ok {
		rf.RuntimeEnvProblems = append(rf.RuntimeEnvProblems, "runtime_env must be a list of variable names.")
	}
	seen := map[string]bool{}
	for _, k := range list {
		switch {
		case !hub.ValidEnvName(k):
			rf.RuntimeEnvProblems = append(rf.RuntimeEnvProblems, fmt.Sprintf("runtime_env: %q is not a valid variable name.", k))
		case hub.ReservedEnvKey(k):
			rf.RuntimeEnvProblems = append(rf.RuntimeEnvProblems, fmt.Sprintf("runtime_env: %s is reserved and cannot be set by a run.", k))
		case !seen[k]:
			seen[k] = true
			rf.RuntimeEnv = append(rf.RuntimeEnv, k)
		}
	}
	slices.Sort(rf.RuntimeEnv)
	rf.Problems = append(rf.Problems, rf.RuntimeEnvProblems...)
	if n, err := lookup(top, []string{"python"}); err == nil && n != nil {
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!str" && tag != "!!float" && tag != "!!int") || !validPythonVersion(strings.TrimSpace(n.Value)) {
			rf.PythonProblems = append(rf.PythonProblems, `python must be a Python version such as "3.11".`)
		} else {
			rf.Python = strings.TrimSpace(n.Value)
		}
	}
	rf.Problems = append(rf.Problems, rf.PythonProblems...)
	return rf
}

// ParseRobotFile reads the keys of a robot.yaml that the hub uses, as
// Inspect does for a package's.
func ParseRobotFile(data []byte) RobotFile { return parseRobotFile(data) }

// validPythonVersion reports whether v is a major, major.minor or
// major.minor.patch number.
func validPythonVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// lookup follows keys through nested mappings. It returns nil when a key is
// missing, and an error when a step that is present is not a mapping.
func lookup(n *yaml.Node, keys []string) (*yaml.Node, error) {
	for i, k := range keys {
		n = deref(n)
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s must be a mapping", strings.Join(keys[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if kn := n.Content[j]; kn.Kind == yaml.ScalarNode && kn.Value == k {
				next = n.Content[j+1]
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		n = next
	}
	return deref(n), nil
}

// stringList returns the trimmed, non-empty strings of a sequence of string
// scalars; ok is false (and the list empty) when n is present but not such a
// sequence.
func stringList(n *yaml.Node) (out []string, ok bool) {
	if n == nil {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		return nil, false
	}
	for _, item := range n.Content {
		item = deref(item)
		if item == nil || item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			return nil, false
		}
		if s := strings.TrimSpace(item.Value); s != "" {
			out = append(out, s)
		}
	}
	return out, true
}
