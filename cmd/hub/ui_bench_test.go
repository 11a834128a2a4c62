package main

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkUIPages measures what a page costs against the API call it is
// built on: the run page (session, /auth/me, the run, its robot, the
// template) vs GET /api/v1/runs/{id}, and the runs list vs its API list.
//
//	go test -run XXX -bench UIPages -benchtime 2s ./cmd/hub
func BenchmarkUIPages(b *testing.B) {
	if runtime.GOOS == "windows" {
		b.Skip("the robot is a shell script")
	}
	_, base := startUIHub(b, "sqlite", nil)
	c := login(b, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("bench-robot", "#!/bin/sh\necho hello\n")
	var run runView
	for range 30 {
		if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
			b.Fatalf("execute: %d", code)
		}
	}
	c.waitRun(run.RunID, 60e9)
	ui := uiLogin(b, base, "admin", "admin-password-1")
	get := func(b *testing.B, client *http.Client, url, bearer string) {
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
	for _, p := range []struct{ name, ui, api string }{
		{"run", "/runs/" + run.RunID, "/api/v1/runs/" + run.RunID},
		{"runs-list", "/runs", "/api/v1/runs?limit=25"},
	} {
		var apiNs, uiNs float64
		b.Run(p.name+"/api", func(b *testing.B) {
			for b.Loop() {
				get(b, http.DefaultClient, base+p.api, c.token)
			}
			apiNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(p.name+"/page", func(b *testing.B) {
			for b.Loop() {
				get(b, ui.client, base+p.ui, "")
			}
			uiNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if apiNs > 0 {
				b.ReportMetric(uiNs/apiNs, "x-api-call")
			}
		})
	}
}
