package hub

import (
	"regexp"
	"slices"
	"strings"
)

// EnvNamePattern is what the name of a variable a version or a run sets
// must look like.
const EnvNamePattern = `^[A-Za-z_][A-Za-z0-9_]*$`

var envNameRE = regexp.MustCompile(EnvNamePattern)

// reservedEnvPrefixes and reservedEnvNames are variables that make a loader,
// an interpreter or a shell run code or read files of the caller's choosing
// (or that the hub sets itself): a run may never set them, whatever the
// robot declares. Names are compared in upper case, so the rule also holds
// on Windows, where names are case-insensitive.
var (
	reservedEnvPrefixes = []string{
		"LD_", "DYLD_", // dynamic loaders: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, DYLD_INSERT_LIBRARIES
		"PYTHON",                // PYTHONSTARTUP, PYTHONPATH, PYTHONWARNINGS, PYTHONHOME, …
		"PERL", "RUBY", "NODE_", // PERL5OPT, PERL5LIB, RUBYOPT, RUBYLIB, NODE_OPTIONS, NODE_PATH
		"JAVA_", "_JAVA_", "JDK_", // JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS
		"DOTNET_", "COR_", "CORECLR_", "COMPLUS_", // .NET startup hooks and profilers
		"LUA_", "GIT_", "BASH_FUNC_", "MALLOC_", "GLIBC_",
		"HUB_", // the hub's own (HUB_RUN_ID, HUB_OUTPUT_DIR, settings)
		"PIP_", "UV_", "CONDA", "VIRTUAL_ENV",
	}
	reservedEnvNames = []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "BROWSER", "PAGER", "EDITOR", "VISUAL",
		"BASH_ENV", "ENV", "IFS", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
		"GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "TZDIR",
		"TMPDIR", "TEMP", "TMP", "OPENSSL_CONF", "OPENSSL_MODULES", "SSLKEYLOGFILE",
		"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
		"CLASSPATH", "TERMINFO", "TERMCAP", "TCLLIBPATH",
		"R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "R_LIBS", "R_LIBS_USER",
		"COMSPEC", "PATHEXT", "SYSTEMROOT", "WINDIR", "PSMODULEPATH", "USERPROFILE", "APPDATA", "LOCALAPPDATA",
		"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
	}
)

// ReservedEnvKey reports whether no run may set key: loader, interpreter and
// shell hooks, the process's identity and search paths, proxies and trust
// stores, and the hub's own variables (see docs/robots.md).
func ReservedEnvKey(key string) bool {
	k := strings.ToUpper(key)
	if slices.Contains(reservedEnvNames, k) {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// CheckRunEnv checks the environment a run asks for (execute's runtime_env,
// a service template's env): every key must be a valid name, declared by the
// robot's version (declared) and not reserved. The error is EInvalid and
// names the first offending key, in sorted order.
func CheckRunEnv(env map[string]string, declared []string) error {
	allowed := make(map[string]bool, len(declared))
	for _, k := range declared {
		allowed[strings.ToUpper(k)] = true
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case !envNameRE.MatchString(k):
			return Errorf(EInvalid, "runtime_env key %q is not a valid variable name.", k)
		case strings.ContainsRune(env[k], 0):
			return Errorf(EInvalid, "runtime_env value of %s must not contain NUL characters.", k)
		case ReservedEnvKey(k):
			return Errorf(EInvalid, "runtime_env key %s is reserved: a run may not set loader, interpreter or shell variables, PATH, HOME or HUB_* variables.", k)
		case !allowed[strings.ToUpper(k)]:
			return Errorf(EInvalid, "runtime_env key %s is not declared by the robot: list it under runtime_env in robot.yaml (or give it a default in the version's env_vars).", k)
		}
	}
	return nil
}

// DeclaredEnvKeys are the variables a run of v may set: robot.yaml's
// runtime_env and required_env, and the keys of the version's env_vars.
func (v *Version) DeclaredEnvKeys() []string {
	out := append(append([]string{}, v.RuntimeEnvKeys...), v.RequiredEnvKeys...)
	for k := range v.EnvVars {
		out = append(out, k)
	}
	return out
}

// ValidEnvName reports whether name can name a robot's variable.
func ValidEnvName(name string) bool { return envNameRE.MatchString(name) }
