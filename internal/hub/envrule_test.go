package hub_test

import (
	"strings"
	"testing"

	"automationhub/internal/hub"
)

func TestReservedEnvKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"LD_PRELOAD", true}, {"ld_library_path", true}, {"DYLD_INSERT_LIBRARIES", true},
		{"PYTHONWARNINGS", true}, {"PYTHONSTARTUP", true}, {"PythonPath", true},
		{"PERL5OPT", true}, {"RUBYOPT", true}, {"NODE_OPTIONS", true}, {"JAVA_TOOL_OPTIONS", true},
		{"BROWSER", true}, {"PATH", true}, {"Path", true}, {"HOME", true}, {"BASH_ENV", true}, {"ENV", true},
		{"IFS", true}, {"GCONV_PATH", true}, {"HUB_RUN_ID", true}, {"HUB_OUTPUT_DIR", true}, {"TMPDIR", true},
		{"HTTPS_PROXY", true}, {"SSL_CERT_FILE", true}, {"GIT_SSH_COMMAND", true}, {"PIP_INDEX_URL", true},
		{"REGION", false}, {"PERIODO", false}, {"SAP_CLIENT", false}, {"PATHNAME", false}, {"ENVIRONMENT", false},
		{"CORPORATE_ID", false}, {"R_SCRIPT_MODE", false}, {"HOMEPAGE", false},
	}
	for _, tt := range tests {
		if got := hub.ReservedEnvKey(tt.key); got != tt.want {
			t.Errorf("ReservedEnvKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestCheckRunEnv(t *testing.T) {
	t.Parallel()
	declared := []string{"REGION", "periodo", "PYTHONPATH"}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" = allowed
	}{
		{"nothing", nil, ""},
		{"declared keys", map[string]string{"REGION": "br", "PERIODO": "2026-02"}, ""},
		{"undeclared key", map[string]string{"REGION": "br", "SAP_USER": "x"}, "runtime_env key SAP_USER is not declared by the robot"},
		{"reserved even when declared", map[string]string{"PYTHONPATH": "/tmp"}, "runtime_env key PYTHONPATH is reserved"},
		{"the review's attack", map[string]string{"PYTHONWARNINGS": "all:0:antigravity.x:0:0", "BROWSER": "x #%s"}, "runtime_env key BROWSER is reserved"},
		{"bad name", map[string]string{"A-B": "x"}, `runtime_env key "A-B" is not a valid variable name.`},
		{"NUL in value", map[string]string{"REGION": "b\x00r"}, "must not contain NUL"},
	}
	for _, tt := range tests {
		err := hub.CheckRunEnv(tt.env, declared)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want allowed", tt.name, err)
		case tt.wantErr != "" && (err == nil || hub.ErrorKind(err) != hub.EInvalid || !strings.Contains(hub.ErrorMessage(err), tt.wantErr)):
			t.Errorf("%s: %v, want an EInvalid error containing %q", tt.name, err, tt.wantErr)
		}
	}
}
