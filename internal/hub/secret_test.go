package hub_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
)

func TestLooksSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"DB_PASSWORD", true},
		{"db_password", true},
		{"SMTP_PASSWD", true},
		{"GPG_PASSPHRASE", true},
		{"PWD", true},
		{"ORACLE_PWD", true},
		{"CLIENT_SECRET", true},
		{"GithubToken", true},
		{"API_KEY", true},
		{"apikey", true},
		{"AWS_CREDENTIALS", true},
		{"SAP_CREDS", true},
		{"AUTH_HEADER", true},
		{"oauth_url", true},
		{"PRIVATE_CERT", true},
		{"SESSION_COOKIE", true},
		{"PERIOD", false},
		{"OUTPUT_DIR", false},
		{"COMPANY", false},
		{"USER", false},
		{"", false},
	} {
		if got := hub.LooksSecret(tc.name); got != tc.want {
			t.Errorf("LooksSecret(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	in := map[string]string{"PERIOD": "2024-01", "DB_PASSWORD": "hunter2", "api_token": ""}
	got := hub.MaskSecrets(in)
	want := map[string]string{"PERIOD": "2024-01", "DB_PASSWORD": "***", "api_token": "***"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MaskSecrets (-want +got):\n%s", diff)
	}
	if in["DB_PASSWORD"] != "hunter2" {
		t.Error("MaskSecrets changed its input")
	}
	if got := hub.MaskSecrets(nil); got == nil || len(got) != 0 {
		t.Errorf("MaskSecrets(nil) = %#v, want an empty map", got)
	}
}
