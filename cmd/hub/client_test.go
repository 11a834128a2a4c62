package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// hubClient talks to a running hub over HTTP as one user.
type hubClient struct {
	t     testing.TB
	base  string // http://host:port/api/v1
	token string
}

// login signs in and returns a client for the user.
func login(t testing.TB, base, user, password string) *hubClient {
	t.Helper()
	resp, err := http.PostForm(base+"/auth/token", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok.AccessToken == "" {
		t.Fatalf("login as %s: %d", user, resp.StatusCode)
	}
	return &hubClient{t: t, base: base, token: tok.AccessToken}
}

// call sends a request and decodes a JSON answer into out; it returns the
// status, or 0 when the server could not be reached.
func (c *hubClient) call(method, path, ct string, body io.Reader, out any) int {
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// shellRobot registers a robot whose package is one executable shell script
// and publishes it; it returns the robot id.
func (c *hubClient) shellRobot(name, script string) string {
	c.t.Helper()
	return c.publishRobot(name, "EXE", "run.sh", map[string]string{"run.sh": script})
}

// shellRobotDeclaring is shellRobot whose robot.yaml declares the
// variables a run may set (runtime_env).
func (c *hubClient) shellRobotDeclaring(name, script string, runtimeEnv ...string) string {
	c.t.Helper()
	return c.publishRobot(name, "EXE", "run.sh", map[string]string{"run.sh": script,
		"robot.yaml": "runtime_env: [" + strings.Join(runtimeEnv, ", ") + "]\n"})
}

// publishRobot registers a robot and publishes version 1.0.0 of a ZIP package
// holding files, with the given entry point; it returns the robot id.
func (c *hubClient) publishRobot(name, entryType, entryPath string, files map[string]string) string {
	c.t.Helper()
	var robot struct{ ID string }
	if code := c.call("POST", "/robots", "application/json", strings.NewReader(`{"name":"`+name+`","initial_version":{"version":"0.1.0"}}`), &robot); code != 200 {
		c.t.Fatalf("create robot: %d", code)
	}
	var pkg bytes.Buffer
	zw := zip.NewWriter(&pkg)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(content))
	}
	zw.Close()
	c.publishZip(robot.ID, name+".zip", pkg.Bytes(), map[string]string{"entrypoint_type": entryType, "entrypoint_path": entryPath})
	return robot.ID
}

// publishZip publishes version 1.0.0 of a robot with the ZIP package pkg and
// the publish form's extra fields.
func (c *hubClient) publishZip(robotID, fileName string, pkg []byte, fields map[string]string) {
	c.t.Helper()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("version", "1.0.0")
	mw.WriteField("channel", "stable")
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("artifact", fileName)
	fw.Write(pkg)
	mw.Close()
	if code := c.call("POST", "/robots/"+robotID+"/versions/publish", mw.FormDataContentType(), &form, nil); code != 201 {
		c.t.Fatalf("publish: %d", code)
	}
}

// runView is the part of RunRead the tests look at.
type runView struct {
	RunID        string  `json:"run_id"`
	Status       string  `json:"status"`
	ErrorMessage *string `json:"error_message"`
}

// waitRun polls a run until it is finished.
func (c *hubClient) waitRun(id string, d time.Duration) runView {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var r runView
	for {
		c.call("GET", "/runs/"+id, "", nil, &r)
		if r.Status == "SUCCESS" || r.Status == "FAILED" || r.Status == "CANCELED" {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s still %q after %v", id, r.Status, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logMessages returns a run's log messages.
func (c *hubClient) logMessages(id string) []string {
	var lines []struct{ Message string }
	c.call("GET", "/runs/"+id+"/logs?limit=5000", "", nil, &lines)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Message
	}
	return out
}

// artifact downloads the file of a run with the given name; "" when the run
// has none.
func (c *hubClient) artifact(runID, name string) string {
	c.t.Helper()
	var run struct {
		Artifacts []struct {
			ID   string `json:"id"`
			Name string `json:"artifact_name"`
		} `json:"artifacts"`
	}
	c.call("GET", "/runs/"+runID, "", nil, &run)
	for _, a := range run.Artifacts {
		if a.Name == name {
			return c.download(runID, a.ID)
		}
	}
	return ""
}
