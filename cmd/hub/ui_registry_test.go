package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// regVersion is the part of RobotVersionRead the registry UI tests look at.
type regVersion struct {
	ID             string  `json:"id"`
	Version        string  `json:"version"`
	IsActive       bool    `json:"is_active"`
	ArtifactSHA256 *string `json:"artifact_sha256"`
	EntrypointType string  `json:"entrypoint_type"`
	EntrypointPath string  `json:"entrypoint_path"`
}

// regVersions returns a robot's versions through the API.
func regVersions(t *testing.T, c *hubClient, robotID string) []regVersion {
	t.Helper()
	var vs []regVersion
	if code := c.call("GET", "/robots/"+robotID+"/versions", "", nil, &vs); code != 200 {
		t.Fatalf("GET versions: %d", code)
	}
	return vs
}

// regActive returns the version number of a robot's active version.
func regActive(t *testing.T, c *hubClient, robotID string) string {
	t.Helper()
	for _, v := range regVersions(t, c, robotID) {
		if v.IsActive {
			return v.Version
		}
	}
	return ""
}

// regVersionID returns the id of a robot's version by number.
func regVersionID(t *testing.T, c *hubClient, robotID, version string) string {
	t.Helper()
	for _, v := range regVersions(t, c, robotID) {
		if v.Version == version {
			return v.ID
		}
	}
	t.Fatalf("robot %s has no version %s", robotID, version)
	return ""
}

// regCounts is what must not change when a request is refused.
type regCounts struct {
	Robots, Versions, Runs int
	Active                 string
}

func regState(t *testing.T, c *hubClient, robotID string) regCounts {
	t.Helper()
	var robots, runs struct {
		Total int `json:"total"`
	}
	c.call("GET", "/robots?limit=1", "", nil, &robots)
	c.call("GET", "/runs?limit=1&robot_id="+robotID, "", nil, &runs)
	return regCounts{Robots: robots.Total, Versions: len(regVersions(t, c, robotID)), Runs: runs.Total, Active: regActive(t, c, robotID)}
}

// regZip is a robot package holding one executable shell script.
func regZip(script string) []byte {
	var pkg bytes.Buffer
	zw := zip.NewWriter(&pkg)
	h := &zip.FileHeader{Name: "run.sh", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte(script))
	zw.Close()
	return pkg.Bytes()
}

// regPublishBody is a publish form: fields and the artifact file.
func regPublishBody(fields map[string]string, name string, artifact []byte) (string, []byte) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("artifact", name)
	fw.Write(artifact)
	mw.Close()
	return mw.FormDataContentType(), form.Bytes()
}

// regNoFollow is c (same cookies, same CSRF token) without following
// redirects.
func regNoFollow(c *uiClient) *uiClient {
	return &uiClient{t: c.t, base: c.base, token: c.token, client: &http.Client{Jar: c.client.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// regPublish sends a publish form to the UI endpoint, as publish.js does
// (xhr) or as a plain form post with the token in the URL.
func regPublish(c *uiClient, robotID, csrf string, xhr bool, ct string, body []byte) (int, string) {
	c.t.Helper()
	target := c.base + "/robots/" + robotID + "/publish"
	if !xhr && csrf != "" {
		target += "?csrf=" + url.QueryEscape(csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if xhr {
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
	}
	return c.do(req)
}

// regRow is the robot page's table row of one version.
func regRow(page, version string) string {
	_, row, _ := strings.Cut(page, `data-version="`+version+`"`)
	row, _, _ = strings.Cut(row, "</tr>")
	return row
}

// regCreateUser adds a local user with a role.
func regCreateUser(t *testing.T, admin *hubClient, name, role string) {
	t.Helper()
	body := `{"username":"` + name + `","password":"password-` + name + `","role":"` + role + `"}`
	if code := admin.call("POST", "/users", "application/json", strings.NewReader(body), nil); code != 201 {
		t.Fatalf("create user %s: %d", name, code)
	}
}

func TestUIRegistry(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robotID := api.shellRobot("ui-registry-robot", "#!/bin/sh\necho hello\n")
			regCreateUser(t, api, "viewer", "Viewer")
			regCreateUser(t, api, "maint", "Maintainer")
			admin := uiLogin(t, base, "admin", "admin-password-1")
			maint := uiLogin(t, base, "maint", "password-maint")
			viewer := uiLogin(t, base, "viewer", "password-viewer")

			t.Run("anonymous goes to login", func(t *testing.T) {
				anon := newUIClient(t, base, false)
				for _, p := range []string{"/robots", "/robots/" + robotID, "/robots/" + robotID + "/versions/x/package"} {
					code, loc := anon.get(p)
					if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
						t.Errorf("GET %s anonymous: %d %q", p, code, loc)
					}
				}
			})

			t.Run("pages", func(t *testing.T) {
				for _, tc := range []struct {
					name       string
					c          *uiClient
					canPublish bool
				}{{"admin", admin, true}, {"maintainer", maint, true}, {"viewer", viewer, false}} {
					t.Run(tc.name, func(t *testing.T) {
						code, body := tc.c.get("/robots")
						if code != 200 || !strings.Contains(body, "ui-registry-robot") || !strings.Contains(body, `href="/robots/`+robotID+`"`) {
							t.Fatalf("GET /robots: %d\n%s", code, body)
						}
						if got := strings.Contains(body, `id="create-robot"`); got != tc.canPublish {
							t.Errorf("new robot form shown = %v, want %v", got, tc.canPublish)
						}
						code, body = tc.c.get("/robots?q=registry-robot")
						if code != 200 || !strings.Contains(body, "ui-registry-robot") {
							t.Errorf("GET /robots?q: %d", code)
						}
						code, body = tc.c.get("/robots?q=nothing-like-this")
						if code != 200 || strings.Contains(body, "ui-registry-robot") {
							t.Errorf("GET /robots?q=nothing: %d, robot listed", code)
						}
						code, body = tc.c.get("/robots/" + robotID)
						if code != 200 {
							t.Fatalf("GET robot page: %d\n%s", code, body)
						}
						for _, want := range []string{`data-version="1.0.0"`, `data-version="0.1.0"`, "active-marker"} {
							if !strings.Contains(body, want) {
								t.Errorf("robot page lacks %s", want)
							}
						}
						// The only other version, 0.1.0, has no package: it cannot be activated.
						if row := regRow(body, "0.1.0"); strings.Contains(row, "activate") {
							t.Errorf("the package-less 0.1.0 offers activation:\n%s", row)
						}
						for _, marker := range []string{`id="publish-form"`, `/package"`, "publish.js"} {
							if got := strings.Contains(body, marker); got != tc.canPublish {
								t.Errorf("%s shown = %v, want %v", marker, got, tc.canPublish)
							}
						}
						// Viewers may not run; admins and maintainers may.
						if got := strings.Contains(body, `id="run-robot"`); got != tc.canPublish {
							t.Errorf("run button shown = %v, want %v", got, tc.canPublish)
						}
						if got := strings.Contains(body, `id="run-input-form"`); got != tc.canPublish {
							t.Errorf("run with input form shown = %v, want %v", got, tc.canPublish)
						}
					})
				}
				code, _ := admin.get("/robots/00000000-0000-0000-0000-000000000000")
				if code != 404 {
					t.Errorf("unknown robot: %d, want 404", code)
				}
			})

			oldID := regVersionID(t, api, robotID, "0.1.0")
			ct, pkg := regPublishBody(map[string]string{"version": "9.9.9", "channel": "stable",
				"entrypoint_type": "EXE", "entrypoint_path": "run.sh"}, "p.zip", regZip("#!/bin/sh\necho x\n"))

			t.Run("refused requests change nothing", func(t *testing.T) {
				before := regState(t, api, robotID)
				viewer.get("/robots/" + robotID)
				admin.get("/robots/" + robotID)
				for _, tc := range []struct {
					name string
					send func() int
				}{
					{"viewer activates", func() int {
						code, _ := viewer.post("/robots/"+robotID+"/versions/"+oldID+"/activate", nil)
						return code
					}},
					{"viewer runs", func() int { code, _ := viewer.post("/robots/"+robotID+"/run", nil); return code }},
					{"viewer creates", func() int {
						code, _ := viewer.post("/robots", url.Values{"name": {"viewer-robot"}, "version": {"0.1.0"}})
						return code
					}},
					{"viewer publishes", func() int {
						code, _ := regPublish(viewer, robotID, viewer.csrf(), false, ct, pkg)
						return code
					}},
					{"viewer publishes (xhr)", func() int {
						code, _ := regPublish(viewer, robotID, viewer.csrf(), true, ct, pkg)
						return code
					}},
					{"activate without token", func() int {
						code, _ := admin.post("/robots/"+robotID+"/versions/"+oldID+"/activate", url.Values{"csrf": {""}})
						return code
					}},
					{"activate with a wrong token", func() int {
						code, _ := admin.post("/robots/"+robotID+"/versions/"+oldID+"/activate", url.Values{"csrf": {"x" + admin.csrf()}})
						return code
					}},
					{"run without token", func() int {
						code, _ := admin.post("/robots/"+robotID+"/run", url.Values{"csrf": {""}})
						return code
					}},
					{"create without token", func() int {
						code, _ := admin.post("/robots", url.Values{"csrf": {""}, "name": {"no-token-robot"}, "version": {"0.1.0"}})
						return code
					}},
					{"publish without token", func() int { code, _ := regPublish(admin, robotID, "", false, ct, pkg); return code }},
					{"publish without token (xhr)", func() int { code, _ := regPublish(admin, robotID, "", true, ct, pkg); return code }},
					{"publish with token in a form field only", func() int {
						c, b := regPublishBody(map[string]string{"csrf": admin.csrf(), "version": "9.9.9", "channel": "stable",
							"entrypoint_type": "EXE", "entrypoint_path": "run.sh"}, "p.zip", regZip("#!/bin/sh\n"))
						code, _ := regPublish(admin, robotID, "", false, c, b)
						return code
					}},
				} {
					if code := tc.send(); code != http.StatusForbidden {
						t.Errorf("%s: %d, want 403", tc.name, code)
					}
				}
				if after := regState(t, api, robotID); after != before {
					t.Errorf("state changed: %+v → %+v", before, after)
				}
			})

			t.Run("publish, roll back, activate", func(t *testing.T) {
				maint.get("/robots/" + robotID)
				nf := regNoFollow(maint)
				ct, body := regPublishBody(map[string]string{"version": "1.1.0", "channel": "beta", "changelog": "Faster.",
					"entrypoint_type": "EXE", "entrypoint_path": "run.sh"}, "v110.zip", regZip("#!/bin/sh\necho v110\n"))
				code, loc := regPublish(nf, robotID, maint.csrf(), false, ct, body)
				if code != http.StatusSeeOther || loc != "/robots/"+robotID {
					t.Fatalf("publish (form): %d %q", code, loc)
				}
				ct, body = regPublishBody(map[string]string{"version": "1.2.0", "channel": "hotfix", "activate": "false",
					"entrypoint_type": "EXE", "entrypoint_path": "run.sh"}, "v120.zip", regZip("#!/bin/sh\necho v120\n"))
				code, js := regPublish(maint, robotID, maint.csrf(), true, ct, body)
				var res struct {
					OK       bool   `json:"ok"`
					Location string `json:"location"`
				}
				if code != 200 || json.Unmarshal([]byte(js), &res) != nil || !res.OK || res.Location != "/robots/"+robotID {
					t.Fatalf("publish (xhr): %d %s", code, js)
				}
				if got := regActive(t, api, robotID); got != "1.1.0" {
					t.Fatalf("active after publishing: %q, want 1.1.0", got)
				}
				// A duplicate version is refused with the API's message.
				code, js = regPublish(maint, robotID, maint.csrf(), true, ct, body)
				if code != 400 || !strings.Contains(js, `"ok":false`) || !strings.Contains(js, "already exists") {
					t.Errorf("duplicate publish (xhr): %d %s", code, js)
				}
				code, page := regPublish(maint, robotID, maint.csrf(), false, ct, body)
				if code != 400 || !strings.Contains(page, "already exists") || !strings.Contains(page, `id="publish-form"`) {
					t.Errorf("duplicate publish (form): %d", code)
				}

				code, page = maint.get("/robots/" + robotID)
				if code != 200 || !strings.Contains(page, "Roll back to this version") || !strings.Contains(page, ">Activate<") {
					t.Fatalf("robot page: %d\n%s", code, page)
				}
				v100 := regVersionID(t, api, robotID, "1.0.0")
				code, loc = regNoFollow(maint).post("/robots/"+robotID+"/versions/"+v100+"/activate", nil)
				if code != http.StatusSeeOther || loc != "/robots/"+robotID {
					t.Fatalf("roll back: %d %q", code, loc)
				}
				if got := regActive(t, api, robotID); got != "1.0.0" {
					t.Fatalf("active after rollback: %q, want 1.0.0", got)
				}
				v120 := regVersionID(t, api, robotID, "1.2.0")
				code, page = maint.post("/robots/"+robotID+"/versions/"+v120+"/activate", nil)
				if code != 200 || !strings.Contains(page, `data-version="1.2.0"`) {
					t.Fatalf("activate: %d", code)
				}
				if got := regActive(t, api, robotID); got != "1.2.0" {
					t.Fatalf("active after activate: %q, want 1.2.0", got)
				}
				if strings.Count(page, "Roll back to this version") != 2 {
					t.Errorf("want 2 rollback buttons under 1.2.0 (not for the package-less 0.1.0):\n%s", page)
				}
			})

			t.Run("publish form leaves the entry point to robot.yaml", func(t *testing.T) {
				code, page := maint.get("/robots/" + robotID)
				if code != 200 || !strings.Contains(page, `<select id="p-entrypoint-type" name="entrypoint_type"><option value="">`) {
					t.Fatalf("the entry point type does not default to robot.yaml's: %d", code)
				}
				var pkg bytes.Buffer
				zw := zip.NewWriter(&pkg)
				for name, body := range map[string]string{"robot.yaml": "entrypoint_path: run.sh\nentrypoint_type: EXE\n", "run.sh": "#!/bin/sh\necho from yaml\n"} {
					h := &zip.FileHeader{Name: name, Method: zip.Deflate}
					h.SetMode(0o755)
					w, _ := zw.CreateHeader(h)
					w.Write([]byte(body))
				}
				zw.Close()
				// What the browser sends when the fields are left alone.
				ct, body := regPublishBody(map[string]string{"version": "1.3.0", "channel": "stable", "entrypoint_type": "", "entrypoint_path": ""}, "v130.zip", pkg.Bytes())
				if code, _ := regPublish(regNoFollow(maint), robotID, maint.csrf(), false, ct, body); code != http.StatusSeeOther {
					t.Fatalf("publish: %d", code)
				}
				for _, v := range regVersions(t, api, robotID) {
					if v.Version == "1.3.0" && (v.EntrypointType != "EXE" || v.EntrypointPath != "run.sh") {
						t.Errorf("1.3.0 entry point = %s %s, want EXE run.sh from robot.yaml", v.EntrypointType, v.EntrypointPath)
					}
				}
			})

			t.Run("download", func(t *testing.T) {
				for _, v := range regVersions(t, api, robotID) {
					if v.ArtifactSHA256 == nil {
						continue
					}
					resp, err := admin.client.Get(base + "/robots/" + robotID + "/versions/" + v.ID + "/package")
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					sum := sha256.Sum256(b)
					if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != *v.ArtifactSHA256 {
						t.Errorf("download %s: %d, %d bytes, sha256 mismatch", v.Version, resp.StatusCode, len(b))
					}
					req, _ := http.NewRequest("GET", base+"/robots/"+robotID+"/versions/"+v.ID+"/package", nil)
					req.Header.Set("Range", "bytes=0-9")
					resp, err = admin.client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					part, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, b[:10]) {
						t.Errorf("range download %s: %d %d bytes", v.Version, resp.StatusCode, len(part))
					}
				}
				resp, err := viewer.client.Get(base + "/robots/" + robotID + "/versions/" + regVersionID(t, api, robotID, "1.0.0") + "/package")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("viewer download: %d, want 403", resp.StatusCode)
				}
			})

			t.Run("create robot", func(t *testing.T) {
				maint.get("/robots")
				code, page := maint.post("/robots", url.Values{"name": {"ab"}, "description": {"Kept text"}, "tags": {"x"}, "version": {"0.1.0"}})
				if code != 400 || !strings.Contains(page, `class="alert"`) || !strings.Contains(page, "Kept text") || !strings.Contains(page, `value="ab"`) {
					t.Fatalf("invalid create: %d\n%s", code, page)
				}
				code, loc := regNoFollow(maint).post("/robots", url.Values{"name": {"ui-created-robot"}, "description": {"Made in the UI"},
					"tags": {" finance , daily,"}, "version": {"0.1.0"}})
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/robots/") {
					t.Fatalf("create: %d %q", code, loc)
				}
				var r struct {
					Name        string   `json:"name"`
					Description *string  `json:"description"`
					Tags        []string `json:"tags"`
				}
				if code := api.call("GET", loc, "", nil, &r); code != 200 ||
					r.Name != "ui-created-robot" || r.Description == nil || *r.Description != "Made in the UI" || strings.Join(r.Tags, ",") != "daily,finance" {
					t.Fatalf("created robot: %d %+v", code, r)
				}
				code, page = maint.get("/robots?tag=finance")
				if code != 200 || !strings.Contains(page, "ui-created-robot") || strings.Contains(page, "ui-registry-robot") {
					t.Errorf("tag filter: %d", code)
				}
			})

			t.Run("run", func(t *testing.T) {
				admin.get("/robots/" + robotID)
				code, loc := regNoFollow(admin).post("/robots/"+robotID+"/run", nil)
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") {
					t.Fatalf("run: %d %q", code, loc)
				}
				var r runView
				if code := api.call("GET", loc, "", nil, &r); code != 200 || r.RunID != strings.TrimPrefix(loc, "/runs/") {
					t.Fatalf("run %s: %d", loc, code)
				}
			})
		})
	}
}

func TestUIRegistryPublishTooLarge(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, map[string]string{"MAX_ARTIFACT_BYTES": "1048576"})
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robotID := api.shellRobot("ui-large-robot", "#!/bin/sh\necho hi\n")
			admin := uiLogin(t, base, "admin", "admin-password-1")
			admin.get("/robots/" + robotID)
			big := make([]byte, 1536<<10)
			rand.Read(big)
			ct, body := regPublishBody(map[string]string{"version": "2.0.0", "channel": "stable"}, "big.zip", big)
			before := len(regVersions(t, api, robotID))
			for _, xhr := range []bool{true, false} {
				code, out := regPublish(admin, robotID, admin.csrf(), xhr, ct, body)
				if code != http.StatusRequestEntityTooLarge {
					t.Errorf("xhr=%v: %d, want 413\n%s", xhr, code, out)
				}
				if xhr && !strings.Contains(out, `"ok":false`) {
					t.Errorf("xhr answer: %s", out)
				}
				if !xhr && !strings.Contains(out, `id="publish-form"`) {
					t.Errorf("form answer is not the robot page:\n%s", out)
				}
			}
			if after := len(regVersions(t, api, robotID)); after != before {
				t.Errorf("versions: %d → %d", before, after)
			}
			// The session still works after the refused uploads.
			if code, _ := admin.get("/robots/" + robotID); code != 200 {
				t.Errorf("robot page after refusal: %d", code)
			}
		})
	}
}
