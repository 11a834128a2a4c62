package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"automationhub/internal/hubtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) { hubtest.Main(m) }

// TestOpenAPIGolden pins the API contract: any change to routes, fields or
// schemas shows up as a diff of testdata/openapi.golden.json in review.
// Regenerate with: go test ./internal/httpapi -run OpenAPIGolden -update
func TestOpenAPIGolden(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/openapi.json", nil, nil)
	var doc any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("/openapi.json differs from %s; review the change and run with -update", path)
	}
}
