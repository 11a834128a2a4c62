package blob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/blob"
)

func newStore(t *testing.T) *blob.Local {
	t.Helper()
	l, err := blob.NewLocal(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// upload writes content in small pieces and returns the unfinished upload.
func upload(t *testing.T, l *blob.Local, content []byte) *blob.Upload {
	t.Helper()
	u, err := l.Create(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Abort)
	for chunk := range slicesChunk(content, 7) {
		if _, err := u.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func commit(t *testing.T, l *blob.Local, key string, content []byte) {
	t.Helper()
	if err := upload(t, l, content).Commit(key, false); err != nil {
		t.Fatal(err)
	}
}

func tmpFiles(t *testing.T, l *blob.Local) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(l.Root(), ".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func readKey(t *testing.T, l *blob.Local, key string) []byte {
	t.Helper()
	f, err := l.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewLocalCreatesFolders(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	l, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(l.Root()) {
		t.Errorf("Root() = %q, want absolute", l.Root())
	}
	for _, d := range []string{root, filepath.Join(root, ".tmp")} {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s: %v", d, err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&^0o750 != 0 {
			t.Errorf("%s has mode %v, want at most 0750", d, fi.Mode().Perm())
		}
	}
	// Opening an existing store works.
	if _, err := blob.NewLocal(root); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewLocal(""); err == nil {
		t.Error("empty root accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	l := newStore(t)
	content := bytes.Repeat([]byte("robot package bytes\n"), 1000)
	u := upload(t, l, content)
	sum := sha256.Sum256(content)
	if u.Size() != int64(len(content)) || u.SHA256() != hex.EncodeToString(sum[:]) {
		t.Fatalf("size %d sha %s, want %d %x", u.Size(), u.SHA256(), len(content), sum)
	}
	// The upload reads back for validation, including through io.SectionReader.
	back, err := io.ReadAll(io.NewSectionReader(u, 0, u.Size()))
	if err != nil || !bytes.Equal(back, content) {
		t.Fatalf("read back %d bytes, %v", len(back), err)
	}
	buf := make([]byte, 10)
	if n, err := u.ReadAt(buf, u.Size()-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 4, EOF", n, err)
	}
	const key = "robots/r1/1.0.0/artifact.zip"
	if err := u.Commit(key, false); err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, l, key); !bytes.Equal(got, content) {
		t.Error("stored content differs")
	}
	size, mod, err := l.Stat(key)
	if err != nil || size != int64(len(content)) || time.Since(mod) > time.Minute {
		t.Errorf("Stat = %d, %v, %v", size, mod, err)
	}
	p, err := l.Path(key)
	if err != nil || p != filepath.Join(l.Root(), "robots", "r1", "1.0.0", "artifact.zip") {
		t.Errorf("Path = %q, %v", p, err)
	}
	if fi, err := os.Stat(p); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640) {
		t.Errorf("stored file: %v, %v", fi.Mode(), err)
	}
	if left := tmpFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files after Commit: %v", left)
	}
	u.Abort() // no-op after Commit
	if _, _, err := l.Stat(key); err != nil {
		t.Errorf("Abort after Commit removed the file: %v", err)
	}
	if err := u.Commit("other", false); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := u.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	// An empty upload is a valid blob.
	e := upload(t, l, nil)
	if e.SHA256() != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty SHA256 = %s", e.SHA256())
	}
	if err := e.Commit("empty", false); err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, l, "empty"); len(got) != 0 {
		t.Errorf("empty blob has %d bytes", len(got))
	}
}

func TestLimit(t *testing.T) {
	l := newStore(t)
	t.Run("exactly at the limit", func(t *testing.T) {
		u, _ := l.Create(10)
		defer u.Abort()
		for _, p := range []string{"12345", "67890"} {
			if n, err := u.Write([]byte(p)); n != 5 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if err := u.Commit("at", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("one byte over in a later write", func(t *testing.T) {
		u, _ := l.Create(10)
		defer u.Abort()
		u.Write([]byte("1234567890"))
		if n, err := u.Write([]byte("x")); n != 0 || !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("Write = %d, %v; want 0, ErrTooLarge", n, err)
		}
		if u.Size() != 10 {
			t.Errorf("Size = %d", u.Size())
		}
		if _, err := u.Write([]byte("y")); !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("later Write = %v", err)
		}
		if err := u.Commit("over", false); !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("Commit = %v", err)
		}
		if _, _, err := l.Stat("over"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("an oversized upload was stored: %v", err)
		}
	})
	t.Run("over in one write", func(t *testing.T) {
		u, _ := l.Create(10)
		defer u.Abort()
		if n, err := u.Write([]byte("12345678901")); n != 10 || !errors.Is(err, blob.ErrTooLarge) {
			t.Fatalf("Write = %d, %v; want 10, ErrTooLarge", n, err)
		}
	})
	t.Run("no limit", func(t *testing.T) {
		u, _ := l.Create(0)
		defer u.Abort()
		if _, err := u.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		u2, _ := l.Create(-1)
		defer u2.Abort()
		if _, err := u2.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCommitExistingKey(t *testing.T) {
	l := newStore(t)
	const key = "robots/r/v/artifact.zip"
	commit(t, l, key, []byte("original"))
	p, _ := l.Path(key)
	before, _ := os.Stat(p)

	u := upload(t, l, []byte("intruder"))
	if err := u.Commit(key, false); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("Commit without replace = %v, want ErrExists", err)
	}
	if got := readKey(t, l, key); string(got) != "original" {
		t.Errorf("existing file changed to %q", got)
	}
	if after, _ := os.Stat(p); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("existing file was replaced")
	}
	// The refused upload is still whole and can be committed with replace.
	if err := u.Commit(key, true); err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, l, key); string(got) != "intruder" {
		t.Errorf("after replace: %q", got)
	}
	if left := tmpFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// replace=true on a new key simply stores it.
	if err := upload(t, l, []byte("new")).Commit("fresh/key", true); err != nil {
		t.Fatal(err)
	}
}

func TestAbort(t *testing.T) {
	l := newStore(t)
	u := upload(t, l, []byte("half an upload"))
	if len(tmpFiles(t, l)) != 1 {
		t.Fatalf("temporary files: %v", tmpFiles(t, l))
	}
	u.Abort()
	u.Abort()
	if left := tmpFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files after Abort: %v", left)
	}
	if err := u.Commit("k", false); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := u.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("ReadAt after Abort succeeded")
	}
	// Abort after a refused Commit removes the temporary file too.
	commit(t, l, "k", []byte("a"))
	u2 := upload(t, l, []byte("b"))
	if err := u2.Commit("k", false); !errors.Is(err, blob.ErrExists) {
		t.Fatal(err)
	}
	u2.Abort()
	if left := tmpFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files after Abort: %v", left)
	}
}

func TestInvalidKeys(t *testing.T) {
	l := newStore(t)
	commit(t, l, "a/b", []byte("x"))
	outside := filepath.Join(filepath.Dir(l.Root()), "x")
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../x", "/abs", "a//b", "a/./b", "", ".", "..", "./a", "a/", "a/..", "a/../b",
		`a\b`, `..\x`, "C:/x", "c:x", "a\x00b", ".tmp/upload-1", ".tmp", "a/...", " /x"} {
		t.Run(key, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, blob.ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
				}
			}
			_, err := l.Path(key)
			check("Path", err)
			f, err := l.Open(key)
			check("Open", err)
			if f != nil {
				f.Close()
			}
			_, _, err = l.Stat(key)
			check("Stat", err)
			check("Delete", l.Delete(key))
			u, err := l.Create(0)
			if err != nil {
				t.Fatal(err)
			}
			u.Write([]byte("evil"))
			check("Commit", u.Commit(key, false))
			check("Commit replace", u.Commit(key, true))
			u.Abort()
		})
	}
	if b, _ := os.ReadFile(outside); string(b) != "outside" {
		t.Error("a file outside the root changed")
	}
	if got := readKey(t, l, "a/b"); string(got) != "x" {
		t.Error("a stored file changed")
	}
}

func TestMissingKeys(t *testing.T) {
	l := newStore(t)
	if _, err := l.Open("no/such"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open = %v", err)
	}
	if _, _, err := l.Stat("no/such"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat = %v", err)
	}
	if err := l.Delete("no/such"); err != nil {
		t.Errorf("Delete = %v", err)
	}
	// A folder is not a blob.
	commit(t, l, "dir/file", []byte("x"))
	if _, err := l.Open("dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(folder) = %v", err)
	}
	if _, _, err := l.Stat("dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(folder) = %v", err)
	}
	if err := l.Delete("dir"); err == nil {
		t.Error("Delete(folder) succeeded")
	}
	if got := readKey(t, l, "dir/file"); string(got) != "x" {
		t.Error("file inside the folder changed")
	}
}

func TestDeletePrunesEmptyFolders(t *testing.T) {
	l := newStore(t)
	commit(t, l, "robots/r1/v1/artifact.zip", []byte("1"))
	commit(t, l, "robots/r1/v2/artifact.zip", []byte("2"))
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(l.Root(), filepath.FromSlash(rel)))
		return err == nil
	}
	if err := l.Delete("robots/r1/v1/artifact.zip"); err != nil {
		t.Fatal(err)
	}
	if exists("robots/r1/v1") || !exists("robots/r1/v2/artifact.zip") {
		t.Error("v1 folder kept or v2 removed")
	}
	if err := l.Delete("robots/r1/v2/artifact.zip"); err != nil {
		t.Fatal(err)
	}
	if exists("robots") {
		t.Error("empty parent folders kept")
	}
	if !exists(".") || !exists(".tmp") {
		t.Error("root or .tmp removed")
	}
	// The key is reusable afterwards.
	commit(t, l, "robots/r1/v1/artifact.zip", []byte("again"))
	if got := readKey(t, l, "robots/r1/v1/artifact.zip"); string(got) != "again" {
		t.Errorf("got %q", got)
	}
}

func TestLeftovers(t *testing.T) {
	l := newStore(t)
	old := upload(t, l, []byte("crashed upload"))
	_ = old
	fresh := upload(t, l, []byte("in progress"))
	_ = fresh
	names := tmpFiles(t, l)
	if len(names) != 2 {
		t.Fatalf("temporary files: %v", names)
	}
	// Find the temporary file of the first upload by content and age it.
	var oldPath string
	for _, n := range names {
		p := filepath.Join(l.Root(), ".tmp", n)
		if b, _ := os.ReadFile(p); string(b) == "crashed upload" {
			oldPath = p
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(oldPath, past, past); err != nil {
		t.Fatal(err)
	}
	got, err := l.Leftovers(time.Hour)
	if err != nil || len(got) != 1 || got[0] != oldPath {
		t.Fatalf("Leftovers(1h) = %v, %v; want [%s]", got, err, oldPath)
	}
	if got, _ := l.Leftovers(0); len(got) != 2 {
		t.Errorf("Leftovers(0) = %v", got)
	}
	if got, _ := l.Leftovers(24 * time.Hour); got == nil || len(got) != 0 {
		t.Errorf("Leftovers(24h) = %#v, want empty", got)
	}
	// Committed uploads are not leftovers.
	if err := fresh.Commit("done", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Leftovers(0); len(got) != 1 {
		t.Errorf("after Commit: %v", got)
	}
}

func TestConcurrentUploads(t *testing.T) {
	l := newStore(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			content := []byte(strings.Repeat(fmt.Sprintf("upload %d\n", i), 1000+i))
			u, err := l.Create(1 << 20)
			if err != nil {
				errs <- err
				return
			}
			defer u.Abort()
			for chunk := range slicesChunk(content, 333) {
				if _, err := u.Write(chunk); err != nil {
					errs <- err
					return
				}
			}
			sum := sha256.Sum256(content)
			if u.SHA256() != hex.EncodeToString(sum[:]) {
				errs <- fmt.Errorf("upload %d: wrong hash", i)
			}
			if err := u.Commit(fmt.Sprintf("robots/r%d/v/artifact.zip", i%3*100+i), false); err != nil {
				errs <- err
			}
		})
	}
	// Meanwhile, twenty uploads race for one key: exactly one wins.
	var winners sync.Map
	for i := range n {
		wg.Go(func() {
			u, err := l.Create(0)
			if err != nil {
				errs <- err
				return
			}
			defer u.Abort()
			fmt.Fprintf(u, "contender %d", i)
			switch err := u.Commit("shared/key", false); {
			case err == nil:
				winners.Store(i, true)
			case !errors.Is(err, blob.ErrExists):
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		want := strings.Repeat(fmt.Sprintf("upload %d\n", i), 1000+i)
		if got := readKey(t, l, fmt.Sprintf("robots/r%d/v/artifact.zip", i%3*100+i)); string(got) != want {
			t.Errorf("upload %d: stored %d bytes, want %d", i, len(got), len(want))
		}
	}
	count := 0
	winners.Range(func(k, _ any) bool {
		count++
		if got := readKey(t, l, "shared/key"); string(got) != fmt.Sprintf("contender %d", k) {
			t.Errorf("shared key holds %q, winner was %d", got, k)
		}
		return true
	})
	if count != 1 {
		t.Errorf("%d uploads won the shared key, want 1", count)
	}
	if left := tmpFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
