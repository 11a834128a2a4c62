package pyenv

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Removed is an environment (or a leftover of a build) the sweep removed.
type Removed struct {
	Key      string
	Bytes    int64
	LastUsed time.Time
	// Why is "unused", "over budget" or "leftover".
	Why string
}

// leftoverAge is how old a build folder that no pointer names must be
// before the sweep removes it (a build in progress holds its lock anyway).
const leftoverAge = time.Hour

// Sweep removes from the cache folder root the environments not used since
// unusedFor before now, then — least recently used first — as many as it
// takes to bring the folder under budget bytes (0: no budget), and the
// leftovers of interrupted builds. An environment in use (a run holds its
// shared lock) or being built is never removed. With dryRun nothing is
// removed; the result says what would be.
func Sweep(root string, now time.Time, unusedFor time.Duration, budget int64, dryRun bool) ([]Removed, error) {
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type published struct {
		p    pointer
		used time.Time
	}
	var envs []published
	named := map[string]bool{}
	var total int64
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name()))
		if err != nil {
			continue
		}
		var p pointer
		if json.Unmarshal(b, &p) != nil || p.Key != key || filepath.Base(p.Dir) != p.Dir {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		named[p.Dir] = true
		envs = append(envs, published{p, info.ModTime()})
		total += p.Bytes
	}
	slices.SortFunc(envs, func(a, b published) int { return cmp.Compare(a.used.UnixNano(), b.used.UnixNano()) })
	var out []Removed
	for _, e := range envs {
		why := ""
		switch {
		case now.Sub(e.used) >= unusedFor:
			why = "unused"
		case budget > 0 && total > budget:
			why = "over budget"
		default:
			continue
		}
		ok, err := removeIfIdle(root, e.p, dryRun)
		if err != nil {
			return out, err
		}
		if ok {
			total -= e.p.Bytes
			out = append(out, Removed{Key: e.p.Key, Bytes: e.p.Bytes, LastUsed: e.used, Why: why})
		}
	}
	// Folders of builds that never published (a crash, a timeout).
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || named[name] {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < leftoverAge {
			continue
		}
		key, _, _ := strings.Cut(strings.TrimSuffix(name, ".tmp"), "-")
		f, err := os.OpenFile(filepath.Join(root, key+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			continue
		}
		if ok, _ := tryLock(f, true); ok {
			if p := readPointerIn(root, key); p == nil || p.Dir != name {
				size := treeSize(filepath.Join(root, name))
				if !dryRun {
					_ = os.RemoveAll(filepath.Join(root, name))
				}
				out = append(out, Removed{Key: key, Bytes: size, LastUsed: info.ModTime(), Why: "leftover"})
			}
			_ = unlock(f)
		}
		f.Close()
	}
	return out, nil
}

func readPointerIn(root, key string) *pointer {
	b, err := os.ReadFile(filepath.Join(root, key+".json"))
	if err != nil {
		return nil
	}
	var p pointer
	if json.Unmarshal(b, &p) != nil {
		return nil
	}
	return &p
}

// removeIfIdle removes a published environment when no run uses it: the
// pointer first (no new run picks it up), then its folder.
func removeIfIdle(root string, p pointer, dryRun bool) (bool, error) {
	f, err := os.OpenFile(filepath.Join(root, p.Key+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ok, err := tryLock(f, true)
	if err != nil || !ok {
		return false, err
	}
	defer func() { _ = unlock(f) }()
	if dryRun {
		return true, nil
	}
	if err := os.Remove(filepath.Join(root, p.Key+".json")); err != nil && !os.IsNotExist(err) {
		return false, err
	}
	if err := os.RemoveAll(filepath.Join(root, p.Dir)); err != nil {
		return false, err
	}
	return true, nil
}
