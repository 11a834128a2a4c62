package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// tryLogin signs in once and returns the status and the error detail.
func tryLogin(t *testing.T, base, user, password string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/auth/token", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Detail any `json:"detail"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	detail, _ := body.Detail.(string)
	return resp.StatusCode, detail
}

// TestFullDatabaseAnswers503AndRecovers fills the embedded database the way
// a full disk does (SQLITE_FULL): logins, which write an audit event, answer
// 503 with a clear message instead of 500; once there is room again, logins
// and runs work without a restart.
func TestFullDatabaseAnswers503AndRecovers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	m, stop := startMain(t, "all", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"})
	defer stop()
	base := "http://" + m.Addr.String() + "/api/v1"
	c := login(t, base, "admin", "admin-password-1")
	robot := c.shellRobot("after-full", "#!/bin/sh\necho still here\n")

	hubtest.LimitSQLitePages(t, m.db.SQL(), 0)
	// Each login stores an audit event; the free room runs out after a few.
	var code int
	var detail string
	for range 2000 {
		if code, detail = tryLogin(t, base, "admin", "admin-password-1"); code != http.StatusOK {
			break
		}
	}
	if code != http.StatusServiceUnavailable || detail != hub.MsgDiskFull {
		t.Fatalf("login on a full database: got %d %q, want 503 %q", code, detail, hub.MsgDiskFull)
	}
	if code, detail = tryLogin(t, base, "admin", "admin-password-1"); code != http.StatusServiceUnavailable {
		t.Fatalf("second login on a full database: got %d %q, want 503", code, detail)
	}

	hubtest.LimitSQLitePages(t, m.db.SQL(), 1<<30)
	if code, detail = tryLogin(t, base, "admin", "admin-password-1"); code != http.StatusOK {
		t.Fatalf("login once there is room: got %d %q, want 200", code, detail)
	}
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute once there is room: got %d, want 202", code)
	}
	if r := c.waitRun(run.RunID, 30*time.Second); r.Status != hub.RunSuccess {
		t.Fatalf("run once there is room: got %s %v, want SUCCESS", r.Status, r.ErrorMessage)
	}
}

// TestFullArtifactDiskAnswers503 publishes a package bigger than the free
// space of the artifact store's (real, small) file system: 503 with a clear
// message instead of 500 or 400; a package that fits is accepted next.
func TestFullArtifactDiskAnswers503(t *testing.T) {
	artifacts := hubtest.SmallDisk(t, 1<<20)
	m, stop := startMain(t, "serve", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1", "ARTIFACTS_ROOT": artifacts})
	defer stop()
	c := login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1")
	var robot struct{ ID string }
	if code := c.call("POST", "/robots", "application/json", strings.NewReader(`{"name":"big","initial_version":{"version":"0.1.0"}}`), &robot); code != 200 {
		t.Fatalf("create robot: %d", code)
	}
	publish := func(version string, payload []byte) (int, string) {
		var pkg bytes.Buffer
		zw := zip.NewWriter(&pkg)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "main.py", Method: zip.Store})
		w.Write([]byte("print('hi')\n# "))
		w.Write(payload)
		zw.Close()
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		mw.WriteField("version", version)
		mw.WriteField("channel", "stable")
		fw, _ := mw.CreateFormFile("artifact", "pkg.zip")
		fw.Write(pkg.Bytes())
		mw.Close()
		var body struct {
			Detail any `json:"detail"`
		}
		code := c.call("POST", "/robots/"+robot.ID+"/versions/publish", mw.FormDataContentType(), &form, &body)
		detail, _ := body.Detail.(string)
		return code, detail
	}
	big := make([]byte, 2<<20)
	rand.Read(big)
	if code, detail := publish("1.0.0", big); code != http.StatusServiceUnavailable || detail != hub.MsgDiskFull {
		t.Fatalf("publish of 2 MiB to a 1 MiB store: got %d %q, want 503 %q", code, detail, hub.MsgDiskFull)
	}
	if code, detail := publish("1.0.0", []byte("small")); code != http.StatusCreated {
		t.Fatalf("publish that fits: got %d %q, want 201", code, detail)
	}
}
