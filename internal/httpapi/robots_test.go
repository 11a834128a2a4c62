package httpapi_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"automationhub/internal/hubtest"
)

func robotZip(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("main.py")
	w.Write([]byte("print('hi')\n"))
	zw.Close()
	return buf.Bytes()
}

// multipartBody builds a publish form; the artifact part comes last, as the
// previous frontend sends it.
func multipartBody(t testing.TB, fields map[string]string, fileName string, content []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if fileName != "" {
		fw, _ := mw.CreateFormFile("artifact", fileName)
		fw.Write(content)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func (b apiBundle) storedFiles(t *testing.T) []string {
	var out []string
	filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func (b apiBundle) newRobot(t testing.TB, name string) string {
	t.Helper()
	rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots", "application/json",
		`{"name":"`+name+`","tags":["qa"],"initial_version":{"version":"1.0.0","entrypoint_type":"PYTHON","entrypoint_path":"main.py","artifact_path":null,"channel":"stable","artifact_type":"ZIP","changelog":"Initial release"}}`)
	if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
		t.Fatalf("create robot: %d %s", rec.Code, rec.Body)
	}
	var r struct {
		ID       string           `json:"id"`
		Versions []map[string]any `json:"versions"`
	}
	jsonBody(t, rec.Body.Bytes(), &r)
	return r.ID
}

func TestRobotEndpoints(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			id := b.newRobot(t, "http-robot")
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots", "application/json",
				`{"name":"http-robot","initial_version":{"version":"1.0.0"}}`); rec.Code != http.StatusConflict {
				t.Errorf("duplicate name: %d, want 409", rec.Code)
			}

			ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable", "changelog": "new", "entrypoint_path": "main.py",
				"entrypoint_type": "PYTHON", "activate": "true"}, "artifact.zip", robotZip(t))
			rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body))
			if rec.Code != http.StatusCreated {
				t.Fatalf("publish: %d %s", rec.Code, rec.Body)
			}
			var v map[string]any
			jsonBody(t, rec.Body.Bytes(), &v)
			for _, k := range []string{"id", "robot_id", "version", "channel", "artifact_type", "artifact_path", "artifact_sha256", "changelog",
				"commit_sha", "branch", "build_url", "created_source", "required_env_keys_json", "entrypoint_type", "entrypoint_path",
				"arguments", "env_vars", "working_directory", "checksum", "created_by", "created_at", "is_active"} {
				if _, ok := v[k]; !ok {
					t.Errorf("RobotVersionRead lacks %s", k)
				}
			}
			if v["is_active"] != true || v["artifact_type"] != "ZIP" || v["created_source"] != "user" || v["created_by"] != b.users["maintainer"].ID {
				t.Errorf("published version = %v", v)
			}
			vid := v["id"].(string)

			// Fields in any order: the artifact first works too.
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("artifact", "pkg.ZIP")
			fw.Write(robotZip(t))
			mw.WriteField("version", "1.2.0")
			mw.WriteField("channel", "beta")
			mw.WriteField("activate", "no")
			mw.Close()
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", mw.FormDataContentType(), buf.String()); rec.Code != 201 {
				t.Errorf("artifact-first publish: %d %s", rec.Code, rec.Body)
			}

			// Errors.
			for _, tt := range []struct {
				name   string
				fields map[string]string
				file   string
				want   int
			}{
				{"no artifact", map[string]string{"version": "1.3.0", "channel": "stable"}, "", 422},
				{"bad activate", map[string]string{"version": "1.3.0", "channel": "stable", "activate": "maybe"}, "a.zip", 422},
				{"duplicate", map[string]string{"version": "1.1.0", "channel": "stable"}, "a.zip", 400},
				{"txt", map[string]string{"version": "1.3.0", "channel": "stable"}, "notes.txt", 400},
			} {
				ct, body := multipartBody(t, tt.fields, tt.file, robotZip(t))
				if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != tt.want {
					t.Errorf("%s: %d (%s), want %d", tt.name, rec.Code, rec.Body, tt.want)
				}
			}
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", "application/json", "{}"); rec.Code != 422 {
				t.Errorf("JSON publish: %d, want 422", rec.Code)
			}
			big := bytes.Repeat([]byte("x"), 2<<20)
			ct, body = multipartBody(t, map[string]string{"version": "1.4.0", "channel": "stable"}, "big.zip", big)
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("over the cap: %d, want 413", rec.Code)
			}
			if rec := b.call(t, "viewer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != 403 {
				t.Errorf("viewer publish: %d, want 403", rec.Code)
			}
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/not-a-uuid/versions/publish", ct, string(body)); rec.Code != 400 {
				t.Errorf("malformed robot id: %d, want 400", rec.Code)
			}
			if n := len(b.storedFiles(t)); n != 2 {
				t.Errorf("stored files = %d, want 2 (failed publishes leave nothing)", n)
			}

			// List, filters, get, patch, tags.
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/robots?q=HTTP&tag=qa", "", "")
			var list struct {
				Items []map[string]any `json:"items"`
				Total int              `json:"total"`
			}
			jsonBody(t, rec.Body.Bytes(), &list)
			if rec.Code != 200 || list.Total != 1 || len(list.Items[0]["versions"].([]any)) != 3 {
				t.Errorf("list: %d total %d", rec.Code, list.Total)
			}
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/robots?include_versions=false", "", "")
			jsonBody(t, rec.Body.Bytes(), &list)
			if len(list.Items[0]["versions"].([]any)) != 0 {
				t.Error("include_versions=false still lists versions")
			}
			if rec := b.call(t, "viewer", http.MethodGet, "/api/v1/robots/"+id, "", ""); rec.Code != 200 {
				t.Errorf("get: %d", rec.Code)
			}
			rec = b.call(t, "maintainer", http.MethodPatch, "/api/v1/robots/"+id, "application/json", `{"description":"Reads invoices"}`)
			var r map[string]any
			jsonBody(t, rec.Body.Bytes(), &r)
			if r["description"] != "Reads invoices" {
				t.Errorf("patch description: %v", r)
			}
			rec = b.call(t, "maintainer", http.MethodPatch, "/api/v1/robots/"+id+"/tags", "application/json", `{"tags":[" b","a","b",""]}`)
			jsonBody(t, rec.Body.Bytes(), &r)
			if tags, _ := r["tags"].([]any); len(tags) != 2 || tags[0] != "a" || tags[1] != "b" {
				t.Errorf("tags = %v", r["tags"])
			}

			// Download with Range and ETag.
			req := httptest.NewRequest(http.MethodGet, "/api/v1/robots/"+id+"/versions/"+vid+"/artifact", nil)
			req.Header.Set("Authorization", "Bearer "+b.tokens["maintainer"])
			req.Header.Set("Range", "bytes=0-3")
			dl := httptest.NewRecorder()
			b.h.ServeHTTP(dl, req)
			if dl.Code != http.StatusPartialContent || dl.Body.String() != "PK\x03\x04" {
				t.Errorf("range download: %d %q", dl.Code, dl.Body.String())
			}
			if !strings.Contains(dl.Header().Get("Content-Disposition"), `filename="http-robot-1.1.0.zip"`) || dl.Header().Get("ETag") == "" {
				t.Errorf("download headers: %v", dl.Header())
			}

			// Rollback over HTTP.
			rec = b.call(t, "maintainer", http.MethodGet, "/api/v1/robots/"+id+"/versions", "", "")
			var versions []map[string]any
			jsonBody(t, rec.Body.Bytes(), &versions)
			// The initial version has no package: 409, nothing changes.
			initial := versions[len(versions)-1]
			rec = b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/"+initial["id"].(string)+"/activate", "", "")
			if want := `{"detail":"Version ` + initial["version"].(string) + ` has no package; publish one before activating it."}`; rec.Code != http.StatusConflict || strings.TrimSpace(rec.Body.String()) != want {
				t.Errorf("activate a version without a package: %d %s, want 409 %s", rec.Code, rec.Body, want)
			}
			var target string
			for _, ver := range versions {
				if ver["is_active"] != true && ver["artifact_sha256"] != nil {
					target = ver["id"].(string)
				}
			}
			rec = b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/"+target+"/activate", "", "")
			jsonBody(t, rec.Body.Bytes(), &v)
			if rec.Code != 200 || v["is_active"] != true || v["id"] != target {
				t.Errorf("activate: %d %v", rec.Code, v)
			}
		})
	}
}

// failingReader delivers some bytes, then fails like a dropped connection.
type failingReader struct {
	data []byte
	n    int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= len(f.data)/2 {
		return 0, errors.New("connection reset by peer")
	}
	k := copy(p, f.data[f.n:len(f.data)/2])
	f.n += k
	return k, nil
}

func TestPublishCutOffMidwayLeavesNothing(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	id := b.newRobot(t, "cut-robot")
	content := bytes.Repeat(robotZip(t), 1000)
	ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable"}, "artifact.zip", content)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", io.NopCloser(&failingReader{data: body}))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+b.tokens["maintainer"])
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("cut-off upload: %d %s, want 400", rec.Code, rec.Body)
	}
	if files := b.storedFiles(t); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
	rec = b.call(t, "maintainer", http.MethodGet, "/api/v1/robots/"+id+"/versions", "", "")
	var versions []any
	jsonBody(t, rec.Body.Bytes(), &versions)
	if len(versions) != 1 {
		t.Errorf("versions after a cut-off upload = %d, want 1", len(versions))
	}
}

// TestPublishRefusesNamesNoFileSystemTakes: an entry name longer than 255
// bytes (or a path longer than 1024) would publish but never unpack on a
// worker, so publish refuses it, naming the entry, and stores nothing.
func TestPublishRefusesNamesNoFileSystemTakes(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	id := b.newRobot(t, "long-names")
	for _, name := range []string{strings.Repeat("n", 256) + ".py", strings.Repeat(strings.Repeat("d", 250)+"/", 5) + "x.py"} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range []string{"main.py", name} {
			w, _ := zw.Create(n)
			w.Write([]byte("print('hi')\n"))
		}
		zw.Close()
		before := b.storedFiles(t)
		ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable"}, "pkg.zip", buf.Bytes())
		rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `Archive entry \"`+name[:20]) || !strings.Contains(rec.Body.String(), "longer than") {
			t.Errorf("publish with %d-byte entry name: %d %s, want 400 naming the entry", len(name), rec.Code, rec.Body)
		}
		if after := b.storedFiles(t); len(after) != len(before) {
			t.Errorf("stored files went from %d to %d", len(before), len(after))
		}
	}
}
