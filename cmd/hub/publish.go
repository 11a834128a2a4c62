package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/term"
)

// parseInterleaved parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// tokenKind tells an API token, a sign-in token (a JWT) and anything else
// (the shared DEPLOY_TOKEN) apart.
func tokenKind(token string) string {
	switch {
	case strings.HasPrefix(token, "hub_"):
		return "api"
	case strings.Count(token, ".") == 2:
		return "jwt"
	}
	return "deploy"
}

// runPublish is `hub publish`: upload a robot package as a new version.
func runPublish(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the hub's URL (default $HUB_SERVER)")
	token := fs.String("token", "", "an API token with robot.publish (default $HUB_TOKEN); the shared DEPLOY_TOKEN works too, with the robot's id and the CI fields")
	robot := fs.String("robot", "", "the robot's name or id (required)")
	version := fs.String("version", "", "the new version, SemVer (required)")
	channel := fs.String("channel", "", "release channel: stable (default), beta or hotfix")
	activate := fs.Bool("activate", true, "make the new version the active one (--activate=false to keep the current one)")
	changelog := fs.String("changelog", "", "what changed")
	commit := fs.String("commit", "", "source commit (in GitHub Actions: $GITHUB_SHA)")
	branch := fs.String("branch", "", "source branch (in GitHub Actions: $GITHUB_REF_NAME)")
	buildURL := fs.String("build-url", "", "the CI build (in GitHub Actions: the workflow run's URL)")
	quiet := fs.Bool("quiet", false, "no upload progress")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hub publish --server URL --token T --robot NAME|ID --version V [--activate] robot.zip\n\n"+
			"Uploads a robot package (a .zip, as `hub package` builds it, or a .exe) as a new version, prints its SHA-256\n"+
			"and checks it against the hub's. With --commit, --branch and --build-url (set from GitHub Actions' variables\n"+
			"when it runs there) the version is recorded as published by CI (created_source github_actions).\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "hub publish: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case len(pos) != 1:
		return usageErr("give exactly one package file (see hub publish --help)")
	case *robot == "":
		return usageErr("--robot is required (its name or id)")
	case *version == "":
		return usageErr("--version is required")
	}
	c, err := newAPIClient(*server, *token, environ)
	if err != nil {
		return usageErr("%v", err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hub publish: %v\n", err)
		return exitFailed
	}
	if *commit == "" {
		*commit = lookupEnv(environ, "GITHUB_SHA")
	}
	if *branch == "" {
		*branch = lookupEnv(environ, "GITHUB_REF_NAME")
	}
	if *buildURL == "" {
		if s, repo, id := lookupEnv(environ, "GITHUB_SERVER_URL"), lookupEnv(environ, "GITHUB_REPOSITORY"), lookupEnv(environ, "GITHUB_RUN_ID"); s != "" && repo != "" && id != "" {
			*buildURL = s + "/" + repo + "/actions/runs/" + id
		}
	}
	ci := *commit != "" && *branch != "" && *buildURL != ""
	kind := tokenKind(c.token)
	if kind == "deploy" && !ci {
		return usageErr("that token is not an API token: the shared DEPLOY_TOKEN publishes only with --commit, --branch and --build-url")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if info.IsDir() {
		return fail(fmt.Errorf("%s is a folder: build the package first (hub package %s)", pos[0], pos[0]))
	}
	var target *robotRef
	if _, err := uuid.Parse(*robot); err != nil && kind == "deploy" {
		return usageErr("with the shared DEPLOY_TOKEN give the robot's id: it cannot look robots up by name")
	}
	if target, err = c.findRobot(ctx, *robot); err != nil {
		return fail(err)
	}

	fields := [][2]string{{"version", *version}, {"activate", fmt.Sprint(*activate)}}
	for _, kv := range [][2]string{{"channel", *channel}, {"changelog", *changelog}, {"commit_sha", *commit}, {"branch", *branch}, {"build_url", *buildURL}} {
		if kv[1] != "" {
			fields = append(fields, kv)
		}
	}
	if *channel == "" && !ci {
		fields = append(fields, [2]string{"channel", "stable"})
	}
	path := "/robots/" + target.ID + "/versions/publish"
	if ci {
		path = "/deploy" + path
	}
	fmt.Fprintf(stdout, "robot:    %s (%s)\npackage:  %s, %d bytes\n", target.Name, target.ID, filepath.Base(pos[0]), info.Size())

	// The form is streamed: fields first, then the file, hashed on the way.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	sum := sha256.New()
	progress := newUploadProgress(stderr, info.Size(), *quiet)
	var wg sync.WaitGroup
	wg.Go(func() {
		err := func() error {
			for _, kv := range fields {
				if err := mw.WriteField(kv[0], kv[1]); err != nil {
					return err
				}
			}
			part, err := mw.CreateFormFile("artifact", filepath.Base(pos[0]))
			if err != nil {
				return err
			}
			if _, err := io.Copy(io.MultiWriter(part, sum, progress), f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	})
	req, err := http.NewRequest(http.MethodPost, c.url(path), pr)
	if err != nil {
		pr.Close()
		wg.Wait()
		return fail(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if kind == "deploy" {
		req.Header.Set("x-deploy-token", c.token)
	}
	var v struct {
		ID             string  `json:"id"`
		Version        string  `json:"version"`
		Channel        string  `json:"channel"`
		IsActive       bool    `json:"is_active"`
		ArtifactSHA256 *string `json:"artifact_sha256"`
		EntrypointPath string  `json:"entrypoint_path"`
		EntrypointType string  `json:"entrypoint_type"`
	}
	err = c.do(ctx, req, &v)
	pr.CloseWithError(errors.New("request finished")) // unblocks the writer if the hub answered early
	wg.Wait()
	progress.done()
	if err != nil {
		return fail(fmt.Errorf("publish %s %s: %w", target.Name, *version, err))
	}
	local := hex.EncodeToString(sum.Sum(nil))
	state := "active"
	if !v.IsActive {
		state = "not active (the active version stays)"
	}
	fmt.Fprintf(stdout, "published: version %s (%s), %s\nversion:  %s\nentry:    %s (%s)\nsha256:   %s\n",
		v.Version, v.Channel, state, v.ID, v.EntrypointPath, v.EntrypointType, local)
	if v.ArtifactSHA256 == nil || *v.ArtifactSHA256 != local {
		return fail(fmt.Errorf("the hub stored SHA-256 %v, not the %s of the file sent", orNone(v.ArtifactSHA256), local))
	}
	return exitOK
}

func orNone(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}

// uploadProgress reports an upload: on a terminal one line rewritten a few
// times a second, elsewhere (CI logs) a line at each quarter.
type uploadProgress struct {
	w      io.Writer
	total  int64
	sent   int64
	tty    bool
	off    bool
	last   time.Time
	marked int64 // quarters reported (not a terminal)
}

func newUploadProgress(w io.Writer, total int64, quiet bool) *uploadProgress {
	p := &uploadProgress{w: w, total: total, off: quiet}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *uploadProgress) Write(b []byte) (int, error) {
	p.sent += int64(len(b))
	if p.off || p.total == 0 {
		return len(b), nil
	}
	pct := p.sent * 100 / p.total
	switch {
	case p.tty && time.Since(p.last) > 200*time.Millisecond:
		p.last = time.Now()
		fmt.Fprintf(p.w, "\ruploading: %3d%% (%d of %d bytes)", pct, p.sent, p.total)
	case !p.tty && pct/25 > p.marked:
		p.marked = pct / 25
		fmt.Fprintf(p.w, "uploading: %3d%% (%d of %d bytes)\n", pct, p.sent, p.total)
	}
	return len(b), nil
}

// done ends the progress line.
func (p *uploadProgress) done() {
	if !p.off && p.tty && p.total > 0 {
		fmt.Fprintf(p.w, "\ruploading: %3d%% (%d of %d bytes)\n", p.sent*100/p.total, p.sent, p.total)
	}
}
