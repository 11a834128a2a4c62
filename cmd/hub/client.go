package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// apiClient is the command-line client of a hub's HTTP API (hub publish,
// hub run): the server's API base URL and a token, an API token (hub_…) or
// a sign-in token.
type apiClient struct {
	base  *url.URL // http(s)://host[:port]/…/api/v1
	token string
	http  *http.Client
}

// clientEnv reads --server and --token, with HUB_SERVER and HUB_TOKEN as
// defaults, into a client. The server may be given as the hub's URL or as
// its API URL (…/api/v1).
func newAPIClient(server, token string, environ []string) (*apiClient, error) {
	if server == "" {
		server = lookupEnv(environ, "HUB_SERVER")
	}
	if token == "" {
		token = lookupEnv(environ, "HUB_TOKEN")
	}
	server, token = strings.TrimSpace(server), strings.TrimSpace(token)
	if server == "" {
		return nil, errors.New("no hub to talk to: give --server URL or set HUB_SERVER")
	}
	if token == "" {
		return nil, errors.New("no token: give --token or set HUB_TOKEN (an API token from the hub's Tokens page, or POST /api/v1/tokens)")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/api/v1") {
		u.Path += "/api/v1"
	}
	u.RawQuery, u.Fragment = "", ""
	// No overall timeout: uploads and long polls take as long as they take;
	// the context ends them.
	return &apiClient{base: u, token: token, http: &http.Client{Transport: http.DefaultTransport}}, nil
}

// lookupEnv finds NAME in a KEY=VALUE list.
func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// apiError is a refusal of the hub: its status and detail.
type apiError struct {
	Status int
	Detail string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("the hub answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// url returns the API URL of path (which may carry a query).
func (c *apiClient) url(path string) string { return c.base.String() + path }

// do sends a request and decodes a 2xx JSON answer into out (when not nil);
// other answers are *apiError.
func (c *apiClient) do(ctx context.Context, req *http.Request, out any) error {
	req = req.WithContext(ctx)
	if req.Header.Get("Authorization") == "" && req.Header.Get("x-deploy-token") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{Status: resp.StatusCode, Detail: errorDetail(body)}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", req.Method, req.URL.Redacted(), err)
		}
	}
	return nil
}

// errorDetail is the detail of a {"detail": …} body, or the body itself.
func errorDetail(body []byte) string {
	var e struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && e.Detail != nil {
		if s, ok := e.Detail.(string); ok {
			return s
		}
		b, _ := json.Marshal(e.Detail)
		return string(b)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// getJSON GETs path into out.
func (c *apiClient) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, c.url(path), nil)
	if err != nil {
		return err
	}
	return c.do(ctx, req, out)
}

// postJSON POSTs in as JSON to path and decodes the answer into out.
func (c *apiClient) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.url(path), bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(ctx, req, out)
}

// robotRef is what the commands need of a robot.
type robotRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// findRobot resolves a robot given by id or by exact name.
func (c *apiClient) findRobot(ctx context.Context, nameOrID string) (*robotRef, error) {
	if id, err := uuid.Parse(nameOrID); err == nil {
		return &robotRef{ID: id.String(), Name: nameOrID}, nil
	}
	var page struct {
		Items []robotRef `json:"items"`
	}
	q := url.Values{"q": {nameOrID}, "include_versions": {"false"}, "limit": {"200"}}
	if err := c.getJSON(ctx, "/robots?"+q.Encode(), &page); err != nil {
		return nil, fmt.Errorf("find robot %q: %w", nameOrID, err)
	}
	for _, r := range page.Items {
		if r.Name == nameOrID {
			return &r, nil
		}
	}
	return nil, fmt.Errorf("no robot named %q on this hub that this token may read (give its id, or a token with robot.read)", nameOrID)
}

// sleepCtx waits d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
