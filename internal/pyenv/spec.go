// Package pyenv gives Python robots their own virtual environment, built
// once per worker and shared by every run and version that needs the same
// one.
//
// A robot package asks for an environment with a requirements.txt, or a
// pyproject.toml whose [project] table lists dependencies, at its root. The
// environment's key is a hash of the interpreter's version and platform,
// the requirements and the package's wheels/ folder (if any): two versions
// of a robot, or two robots, with the same key share one environment.
//
// Environments live in a cache folder of the worker. A build holds an
// exclusive lock on the key's lock file (flock on Unix, LockFileEx on
// Windows), so two runs — in one worker or in two workers sharing the folder
// — build a key once; a run holds a shared lock while it uses an
// environment, so the sweep never removes one in use. A build happens in a
// folder of its own name and is published by writing the key's pointer file
// (temp file + rename) last: an interrupted build is never used, and is
// swept. Virtual environments cannot be moved once built (their scripts name
// their own path), which is why the pointer, not the folder, is renamed into
// place.
package pyenv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"automationhub/internal/archive"
	"automationhub/internal/hub"
)

// File names a package uses to ask for an environment.
const (
	RequirementsFile = "requirements.txt"
	PyprojectFile    = "pyproject.toml"
	WheelsDir        = "wheels"
)

// maxRequirementsBytes bounds a requirements file (or pyproject.toml).
const maxRequirementsBytes = 1 << 20

// Spec is what a package asks of its Python environment.
type Spec struct {
	// Python is the interpreter version robot.yaml asks for ("3.11"), ""
	// for any.
	Python string
	// Source is the file the requirements come from (RequirementsFile or
	// PyprojectFile).
	Source string
	// Requirements is what is installed, in requirements-file syntax: the
	// file's content, or the pyproject's dependencies one a line.
	Requirements []byte
	// Wheels is the package's wheels/ folder (absolute), "" when it has
	// none: the build then installs from it alone, with no network.
	Wheels string
	// wheelsSum is a hash of the wheels' names and contents.
	wheelsSum string
}

// Read returns what the package unpacked in dir asks for: the Python version
// of its robot.yaml and its requirements (none: Needed is false, it runs
// with the interpreter as it is). Errors are hub.EInvalid and say what is
// wrong with which file.
func Read(dir string) (*Spec, error) {
	s := &Spec{}
	if rf := robotFile(dir); rf != nil {
		if len(rf.PythonProblems) > 0 {
			return nil, hub.Errorf(hub.EInvalid, "%s: %s", rf.Name, strings.Join(rf.PythonProblems, " "))
		}
		s.Python = rf.Python
	}
	data, err := readSmall(filepath.Join(dir, RequirementsFile))
	switch {
	case err == nil:
		if err := CheckRequirements(data); err != nil {
			return nil, err
		}
		s.Source, s.Requirements = RequirementsFile, data
	case errors.Is(err, fs.ErrNotExist):
		data, err := readSmall(filepath.Join(dir, PyprojectFile))
		if errors.Is(err, fs.ErrNotExist) {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		deps, err := PyprojectDependencies(data)
		if err != nil {
			return nil, err
		}
		if len(deps) == 0 {
			return s, nil
		}
		s.Source, s.Requirements = PyprojectFile, []byte(strings.Join(deps, "\n")+"\n")
	default:
		return nil, err
	}
	if len(bytes.TrimSpace(stripComments(s.Requirements))) == 0 {
		s.Source, s.Requirements = "", nil
		return s, nil
	}
	wheels := filepath.Join(dir, WheelsDir)
	if st, err := os.Stat(wheels); err == nil && st.IsDir() {
		sum, err := hashTree(wheels)
		if err != nil {
			return nil, fmt.Errorf("pyenv: read %s: %w", WheelsDir, err)
		}
		s.Wheels, s.wheelsSum = wheels, sum
	}
	return s, nil
}

// Needed reports whether the package needs an environment of its own.
func (s *Spec) Needed() bool { return s != nil && len(s.Requirements) > 0 }

// robotFile reads the package's robot.yaml (or robot.yml, any case) at its
// root; nil when it has none.
func robotFile(dir string) *archive.RobotFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if n := strings.ToLower(e.Name()); e.Type().IsRegular() && (n == "robot.yaml" || n == "robot.yml") {
			data, err := readSmall(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil
			}
			rf := archive.ParseRobotFile(data)
			rf.Name = e.Name()
			return &rf
		}
	}
	return nil
}

// CheckPackage checks, at publish, what a package asks of its environment:
// its requirements.txt, else its pyproject.toml's dependencies. Errors are
// hub.EInvalid.
func CheckPackage(m *archive.Manifest) error {
	if len(m.Robot.PythonProblems) > 0 {
		return hub.Errorf(hub.EInvalid, "%s: %s", m.Robot.Name, strings.Join(m.Robot.PythonProblems, " "))
	}
	if m.RequirementsOver {
		return hub.Errorf(hub.EInvalid, "%s or %s is larger than %d KiB.", RequirementsFile, PyprojectFile, maxRequirementsBytes>>10)
	}
	if m.Requirements != nil {
		return CheckRequirements(m.Requirements)
	}
	if m.Pyproject != nil {
		_, err := PyprojectDependencies(m.Pyproject)
		return err
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRequirementsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pyenv: read %s: %w", filepath.Base(path), err)
	}
	if len(data) > maxRequirementsBytes {
		return nil, hub.Errorf(hub.EInvalid, "%s is larger than %d KiB.", filepath.Base(path), maxRequirementsBytes>>10)
	}
	return data, nil
}

// hashTree hashes the names and contents of the regular files under dir.
func hashTree(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fh := sha256.New()
		if _, err := io.Copy(fh, f); err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%x\n", filepath.ToSlash(rel), fh.Sum(nil))
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// Key is the environment's key for an interpreter: a hash of the
// interpreter's implementation, version and platform, the requirements and
// the wheels.
func (s *Spec) Key(in *Interpreter) string {
	h := sha256.New()
	fmt.Fprintf(h, "pyenv-v1\n%s\n%s\n%s\n%s\n", in.Implementation, in.Version, in.Platform, s.wheelsSum)
	h.Write(s.Requirements)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// requirementName is a PEP 508 project name at the start of a line.
var requirementName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?`)

// allowedOptions are the requirements-file options a package may use; the
// others either pull in files the environment's key would not cover (-r,
// -c, -e) or change how pip runs.
var allowedOptions = []string{"--index-url", "-i", "--extra-index-url", "--find-links", "-f", "--no-index",
	"--pre", "--prefer-binary", "--only-binary", "--no-binary", "--trusted-host", "--require-hashes"}

// stripComments removes comments (# at a line start or after white space).
func stripComments(data []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		out.WriteString(cutComment(line))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func cutComment(line string) string {
	if strings.HasPrefix(line, "#") {
		return ""
	}
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	if i := strings.Index(line, "\t#"); i >= 0 {
		line = line[:i]
	}
	return line
}

// CheckRequirements checks that a requirements file parses: each line is a
// requirement (a project name, optionally with extras, a version
// specifier, a URL after @, markers after ;, and --hash options) or one of
// the index options pip allows there. Includes (-r, -c), editable and
// local-path requirements are refused: the environment's key covers the
// file and the wheels/ folder, not other files. Errors are hub.EInvalid
// and name the line.
func CheckRequirements(data []byte) error {
	if !utf8Valid(data) {
		return hub.Errorf(hub.EInvalid, "%s is not UTF-8 text.", RequirementsFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxRequirementsBytes)
	n, logical, start := 0, "", 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if logical == "" {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			logical += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		logical += line
		if err := checkRequirementLine(strings.TrimSpace(cutComment(logical))); err != nil {
			return hub.Errorf(hub.EInvalid, "%s line %d: %s", RequirementsFile, start, err.Error())
		}
		logical = ""
	}
	if err := sc.Err(); err != nil {
		return hub.Errorf(hub.EInvalid, "%s cannot be read: %v", RequirementsFile, err)
	}
	if strings.TrimSpace(logical) != "" {
		if err := checkRequirementLine(strings.TrimSpace(cutComment(logical))); err != nil {
			return hub.Errorf(hub.EInvalid, "%s line %d: %s", RequirementsFile, start, err.Error())
		}
	}
	return nil
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func checkRequirementLine(line string) error {
	if line == "" {
		return nil
	}
	if strings.HasPrefix(line, "-") {
		opt, _, _ := strings.Cut(strings.Fields(line)[0], "=")
		switch {
		case opt == "-r" || opt == "--requirement" || opt == "-c" || opt == "--constraint" || strings.HasPrefix(opt, "-r") && len(opt) > 2 && opt[1] == 'r':
			return errors.New("including other files (-r, -c) is not supported: list every requirement in this file")
		case opt == "-e" || opt == "--editable":
			return errors.New("editable requirements (-e) are not supported")
		case slices.Contains(allowedOptions, opt):
			return nil
		}
		return fmt.Errorf("option %s is not supported in a robot's requirements", opt)
	}
	if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "/") || strings.HasPrefix(line, `\`) || strings.HasPrefix(line, "~") ||
		len(line) > 1 && line[1] == ':' {
		return fmt.Errorf("%q is a local path; put wheels in the package's %s/ folder and name the project instead", line, WheelsDir)
	}
	if strings.Contains(line, "://") && !strings.Contains(line, "@") {
		return fmt.Errorf("%q: a URL needs a project name (name @ URL)", line)
	}
	name := requirementName.FindString(line)
	if name == "" {
		return fmt.Errorf("%q is not a requirement (a project name such as requests, optionally with a version: requests>=2.31)", line)
	}
	rest := strings.TrimSpace(line[len(name):])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return fmt.Errorf("%q: extras are not closed with ]", line)
		}
		for _, e := range strings.Split(rest[1:end], ",") {
			if e = strings.TrimSpace(e); e != "" && requirementName.FindString(e) != e {
				return fmt.Errorf("%q: %q is not a valid extra", line, e)
			}
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	spec, markers, _ := strings.Cut(rest, ";")
	_ = markers
	spec = strings.TrimSpace(spec)
	// --hash options follow the requirement.
	if i := strings.Index(spec, "--hash"); i >= 0 {
		for _, f := range strings.Fields(spec[i:]) {
			if !strings.HasPrefix(f, "--hash") {
				return fmt.Errorf("%q: only --hash options may follow a requirement", line)
			}
		}
		spec = strings.TrimSpace(spec[:i])
	}
	if spec != "" && !strings.ContainsRune("=<>!~(@", rune(spec[0])) {
		return fmt.Errorf("%q is not a requirement (a project name such as requests, optionally with a version: requests>=2.31)", line)
	}
	switch {
	case spec == "":
		return nil
	case strings.HasPrefix(spec, "@"):
		if strings.TrimSpace(spec[1:]) == "" {
			return fmt.Errorf("%q: a URL must follow @", line)
		}
		return nil
	case strings.HasPrefix(spec, "(") && strings.HasSuffix(spec, ")"):
		spec = spec[1 : len(spec)-1]
	}
	for _, c := range strings.Split(spec, ",") {
		if !versionClause.MatchString(strings.TrimSpace(c)) {
			return fmt.Errorf("%q: %q is not a version specifier (such as ==1.2, >=2.0,<3, ~=1.4)", line, strings.TrimSpace(c))
		}
	}
	return nil
}

// versionClause is one PEP 440 version clause.
var versionClause = regexp.MustCompile(`^(===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+$`)

// PyprojectDependencies returns the [project] dependencies of a
// pyproject.toml (nil when it lists none), each checked as a requirement.
// Errors are hub.EInvalid.
func PyprojectDependencies(data []byte) ([]string, error) {
	var doc struct {
		Project struct {
			Dependencies []string `toml:"dependencies"`
		} `toml:"project"`
	}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, hub.Errorf(hub.EInvalid, "%s is not valid TOML (or [project] dependencies is not a list of strings): %v", PyprojectFile, err)
	}
	for _, d := range doc.Project.Dependencies {
		if strings.HasPrefix(strings.TrimSpace(d), "-") || strings.ContainsAny(d, "\n\r") {
			return nil, hub.Errorf(hub.EInvalid, "%s: %q is not a requirement", PyprojectFile, d)
		}
		if err := checkRequirementLine(strings.TrimSpace(d)); err != nil {
			return nil, hub.Errorf(hub.EInvalid, "%s dependencies: %s", PyprojectFile, err.Error())
		}
	}
	return doc.Project.Dependencies, nil
}
