package hub_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
)

func TestNormalizeLabels(t *testing.T) {
	t.Parallel()
	many := make([]string, hub.MaxLabels+1)
	for i := range many {
		many[i] = "l" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"trimmed, deduplicated, sorted", []string{" sap", "os=windows", "sap ", "desktop"}, []string{"desktop", "os=windows", "sap"}, ""},
		{"none", nil, []string{}, ""},
		{"empty label", []string{"sap", "  "}, nil, "a label is empty"},
		{"too long", []string{strings.Repeat("a", hub.MaxLabelBytes+1)}, nil, "longer than 64"},
		{"bad character", []string{"sap labs"}, nil, "may hold only"},
		{"comma", []string{"a,b"}, nil, "may hold only"},
		{"two equals", []string{"a=b=c"}, nil, "name or key=value"},
		{"no key", []string{"=b"}, nil, "name or key=value"},
		{"too many", many, nil, "at most 32 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hub.NormalizeLabels("required_labels", tc.in)
			if tc.err != "" {
				if hub.ErrorKind(err) != hub.EUnprocessable || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(hub.ErrorMessage(err), "required_labels: ") {
					t.Errorf("error = %v, want 422 containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !cmp.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if l, err := hub.ParseLabels("os=windows, desktop,sap"); err != nil || !cmp.Equal(l, []string{"desktop", "os=windows", "sap"}) {
		t.Errorf("ParseLabels = %v, %v", l, err)
	}
	if !hub.HasLabels([]string{"a", "b"}, []string{"b"}) || hub.HasLabels([]string{"a"}, []string{"a", "b"}) || !hub.HasLabels(nil, nil) {
		t.Error("HasLabels")
	}
}
