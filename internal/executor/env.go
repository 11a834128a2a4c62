package executor

import (
	"cmp"
	"maps"
	"runtime"
	"slices"
	"strings"
)

// EnvAllowList are the variables of the worker's own environment a robot
// inherits; nothing else (never the hub's secrets such as SECRET_KEY,
// DATABASE_URL, REDIS_URL, AZURE_*, DEFAULT_ADMIN_PASSWORD). Names are
// compared case-insensitively on Windows and exactly elsewhere.
var EnvAllowList = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
	"TMPDIR", "TEMP", "TMP",
	"SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA",
	"PROGRAMDATA", "PROGRAMFILES", "PROGRAMFILES(X86)", "COMPUTERNAME", "NUMBER_OF_PROCESSORS",
	"PROCESSOR_ARCHITECTURE",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
}

// envFoldCase tells whether environment variable names are case-insensitive.
const envFoldCase = runtime.GOOS == "windows"

// BuildEnv returns the robot's environment as "KEY=value" entries: the
// variables of base (usually os.Environ()) named in EnvAllowList, then each
// layer in order (later wins; keys compared case-insensitively on Windows),
// then the fixed ones last: PYTHONUNBUFFERED=1, PYTHONIOENCODING=utf-8,
// HUB_RUN_ID=<runID>, HUB_OUTPUT_DIR=<outputDir>. The result is sorted by
// key and holds each key once. Entries whose key is empty or contains '=' or
// NUL, or whose value contains NUL (which no environment can hold), are
// skipped, in base and in layers alike.
func BuildEnv(base []string, runID, outputDir string, layers ...map[string]string) []string {
	return buildEnv(envFoldCase, base, runID, outputDir, layers...)
}

// envVar is one variable, keyed in envSet by its normalized name.
type envVar struct{ key, value string }

// envSet is an environment in which later settings replace earlier ones.
type envSet struct {
	fold bool
	vars map[string]envVar
}

// norm returns the name under which key is stored.
func (s envSet) norm(key string) string {
	if s.fold {
		return strings.ToUpper(key)
	}
	return key
}

// set records key=value unless the entry is invalid.
func (s envSet) set(key, value string) {
	if !validEnvKey(key) || strings.IndexByte(value, 0) >= 0 {
		return
	}
	s.vars[s.norm(key)] = envVar{key, value}
}

// force sets key=value, removing any earlier setting even when value is
// invalid, so that a layer can never take the place of a fixed variable.
func (s envSet) force(key, value string) {
	delete(s.vars, s.norm(key))
	s.set(key, value)
}

// buildEnv is BuildEnv with the case rule as a parameter, so that both rules
// can be tested on any OS.
func buildEnv(fold bool, base []string, runID, outputDir string, layers ...map[string]string) []string {
	s := envSet{fold: fold, vars: make(map[string]envVar)}
	allowed := make(map[string]bool, len(EnvAllowList))
	for _, k := range EnvAllowList {
		allowed[s.norm(k)] = true
	}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && allowed[s.norm(k)] {
			s.set(k, v)
		}
	}
	for _, layer := range layers {
		// Sorted so that the result is deterministic when two keys fold to one.
		for _, k := range slices.Sorted(maps.Keys(layer)) {
			s.set(k, layer[k])
		}
	}
	s.force("PYTHONUNBUFFERED", "1")
	s.force("PYTHONIOENCODING", "utf-8")
	s.force("HUB_RUN_ID", runID)
	s.force("HUB_OUTPUT_DIR", outputDir)

	vars := slices.SortedFunc(maps.Values(s.vars), func(a, b envVar) int { return cmp.Compare(a.key, b.key) })
	env := make([]string, len(vars))
	for i, v := range vars {
		env[i] = v.key + "=" + v.value
	}
	return env
}

// validEnvKey reports whether key can name an environment variable.
func validEnvKey(key string) bool {
	return key != "" && !strings.ContainsAny(key, "=\x00")
}

// lookupEnv returns the value of key in env, where the last entry wins as in
// os/exec; names are compared case-insensitively on Windows.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(env[i], "=")
		if !ok {
			continue
		}
		if k == key || envFoldCase && strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}
