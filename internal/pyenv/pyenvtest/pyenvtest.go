// Package pyenvtest builds what tests of Python environments need without
// a network: wheels written directly as ZIP files, and the interpreter to
// build with.
package pyenvtest

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python returns the python3 of the machine, skipping the test when there
// is none or it cannot make virtual environments.
func Python(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(p, "-c", "import venv, ensurepip").Run(); err != nil {
		t.Skip("python3 cannot create virtual environments (venv/ensurepip missing)")
	}
	return p
}

// Wheel writes a pure-Python wheel of project name at version into dir: one
// module, name, whose source is src. It returns the wheel's path.
func Wheel(t testing.TB, dir, name, version, src string) string {
	t.Helper()
	dist := strings.ReplaceAll(name, "-", "_")
	info := fmt.Sprintf("%s-%s.dist-info", dist, version)
	files := []struct{ name, body string }{
		{dist + ".py", src},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: pyenvtest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", dist, version))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	var record strings.Builder
	for _, fl := range files {
		w, err := zw.Create(fl.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(fl.body)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(fl.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", fl.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(fl.body))
	}
	record.WriteString(info + "/RECORD,,\n")
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Offline is the environment of a worker whose package index is
// unreachable: a build that tries the network fails at once.
func Offline(base []string) []string {
	return append(append([]string{}, base...), "PIP_INDEX_URL=http://127.0.0.1:9/simple",
		"PIP_EXTRA_INDEX_URL=http://127.0.0.1:9/extra", "PIP_DEFAULT_TIMEOUT=2", "PIP_RETRIES=0")
}
