package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiPrefix is where the JSON API lives; the UI reaches it in process.
const apiPrefix = "/api/v1"

// apiError is a non-2xx answer of the API: its status and detail message,
// and the message of each invalid input by name (the items of a 422, or the
// "errors" list of a 400 about several inputs).
type apiError struct {
	Status int
	Detail string
	Fields map[string]string
	Header http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("api %d: %s", e.Status, e.Detail) }

// asAPIError returns the API error inside err, if any.
func asAPIError(err error) (*apiError, bool) {
	var ae *apiError
	ok := errors.As(err, &ae)
	return ae, ok
}

// bufferedResponse collects an in-process API answer.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// apiRequest builds a request to the API on behalf of the browser request
// r: same context (request id, client IP), the session's bearer token.
func apiRequest(r *http.Request, token, method, path string, body io.Reader, contentType string) *http.Request {
	req, _ := http.NewRequestWithContext(r.Context(), method, apiPrefix+path, body)
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	return req
}

// call sends one request to the API and decodes a 2xx JSON answer into out
// (when not nil). Other answers become *apiError.
func (u *UI) call(r *http.Request, token, method, path string, in, out any) error {
	_, err := u.callHeader(r, token, method, path, in, out)
	return err
}

// callHeader is call that also returns the answer's headers (X-Total-Count
// of lists).
func (u *UI) callHeader(r *http.Request, token, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	ct := ""
	switch v := in.(type) {
	case nil:
	case url.Values:
		body, ct = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("webui: encode %s %s: %w", method, path, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp := &bufferedResponse{header: http.Header{}}
	u.api.ServeHTTP(resp, apiRequest(r, token, method, path, body, ct))
	if resp.status == 0 {
		resp.status = http.StatusOK
	}
	if resp.status/100 != 2 {
		e := decodeAPIError(resp.status, resp.body.Bytes())
		e.Header = resp.header
		return resp.header, e
	}
	if out != nil && resp.status != http.StatusNoContent {
		if err := json.Unmarshal(resp.body.Bytes(), out); err != nil {
			return resp.header, fmt.Errorf("webui: decode %s %s: %w", method, path, err)
		}
	}
	return resp.header, nil
}

// decodeAPIError reads {"detail": "..."} with its optional "errors" list,
// or the 422 list form.
func decodeAPIError(status int, body []byte) *apiError {
	e := &apiError{Status: status, Detail: http.StatusText(status)}
	var raw struct {
		Detail json.RawMessage `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &raw) != nil || len(raw.Detail) == 0 {
		return e
	}
	var msg string
	if json.Unmarshal(raw.Detail, &msg) == nil {
		e.Detail = msg
		for _, it := range raw.Errors {
			if e.Fields == nil {
				e.Fields = map[string]string{}
			}
			e.Fields[it.Field] = it.Message
		}
		return e
	}
	var items []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw.Detail, &items) == nil && len(items) > 0 {
		e.Fields = map[string]string{}
		var msgs []string
		for _, it := range items {
			if n := len(it.Loc); n > 0 {
				e.Fields[fmt.Sprint(it.Loc[n-1])] = it.Msg
			}
			msgs = append(msgs, it.Msg)
		}
		e.Detail = strings.Join(msgs, " ")
	}
	return e
}

// passThrough serves an API route straight to the browser (downloads with
// Range support, the log WebSocket): the browser request is re-addressed to
// path and carries the session's bearer token instead of cookies.
func (u *UI) passThrough(w http.ResponseWriter, r *http.Request, token, path string) {
	req := r.Clone(r.Context())
	req.URL = &url.URL{Path: apiPrefix + path, RawQuery: r.URL.RawQuery}
	req.RequestURI = ""
	req.Header.Del("Cookie")
	req.Header.Set("Authorization", "Bearer "+token)
	u.api.ServeHTTP(w, req)
}

// formError returns the API error of a write that a form shows next to
// itself (validation, conflicts, unknown references, too large); other
// errors become error pages.
func formError(err error) (*apiError, bool) {
	ae, ok := asAPIError(err)
	if !ok {
		return nil, false
	}
	switch ae.Status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return ae, true
	}
	return nil, false
}

// placeErrors splits an API error for a form, in the reader's language:
// the messages about the form's inputs go next to them; the detail stays on
// top unless every message found its input.
func (t translator) placeErrors(ae *apiError, inputs ...string) (top string, at map[string]string) {
	at = map[string]string{}
	for _, in := range inputs {
		if msg, ok := ae.Fields[in]; ok {
			at[in] = t.API(msg)
		}
	}
	if len(at) == 0 || len(at) < len(ae.Fields) {
		top = t.API(ae.Detail)
	}
	return top, at
}

// listQuery is what a list page asks the API for (a page of per items,
// filters) and the filters its paging links keep.
type listQuery struct {
	api, keep url.Values
}

func newListQuery(page, per int) listQuery {
	return listQuery{api: url.Values{"skip": {strconv.Itoa((page - 1) * per)}, "limit": {strconv.Itoa(per)}}, keep: url.Values{}}
}

// filter adds a non-empty filter under the same name in both queries.
func (l listQuery) filter(key, val string) {
	if val != "" {
		l.api.Set(key, val)
		l.keep.Set(key, val)
	}
}

// dates adds a from/to date range (YYYY-MM-DD, both days included) as the
// API's since/until; it reports false for a malformed date.
func (l listQuery) dates(from, to string) bool {
	for _, p := range []struct {
		key, apiKey, val string
		days             int
	}{{"from", "since", from, 0}, {"to", "until", to, 1}} {
		if p.val == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, p.val)
		if err != nil {
			return false
		}
		l.api.Set(p.apiKey, d.AddDate(0, 0, p.days).Format(time.RFC3339))
		l.keep.Set(p.key, p.val)
	}
	return true
}

// links is the kept filters as an encoded query string for paging links.
func (l listQuery) links() template.URL { return template.URL(l.keep.Encode()) }

// pageParam reads ?page= (1 when absent or invalid).
func pageParam(r *http.Request) int {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return max(1, p)
}

// pageCount is how many pages of per items total makes (at least 1).
func pageCount(total, per int) int { return max(1, (total+per-1)/per) }
