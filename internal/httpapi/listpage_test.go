package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"automationhub/internal/hubtest"
)

type listPage struct {
	Items []struct {
		RunID string `json:"run_id"`
		ID    int64  `json:"id"`
	} `json:"items"`
	Total      int     `json:"total"`
	TotalExact bool    `json:"total_exact"`
	NextCursor *string `json:"next_cursor"`
	PrevCursor *string `json:"prev_cursor"`
}

// TestListCursors pages the runs and audit lists with before/after cursors
// as a client would, and checks bad paging input is a 400 that says why.
func TestListCursors(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			id := b.newRobot(t, "paged-robot")
			ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable"}, "artifact.zip", robotZip(t))
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != 201 {
				t.Fatalf("publish: %d %s", rec.Code, rec.Body)
			}
			for range 5 {
				if rec := b.call(t, "operator", http.MethodPost, "/api/v1/runs/"+id+"/execute", "application/json", `{}`); rec.Code != http.StatusAccepted {
					t.Fatalf("execute: %d %s", rec.Code, rec.Body)
				}
			}
			get := func(path string) listPage {
				t.Helper()
				rec := b.call(t, "admin", http.MethodGet, path, "", "")
				if rec.Code != 200 {
					t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
				var p listPage
				jsonBody(t, rec.Body.Bytes(), &p)
				return p
			}
			all := get("/api/v1/runs?limit=50")
			if len(all.Items) != 5 || all.Total != 5 || !all.TotalExact || all.NextCursor != nil || all.PrevCursor != nil {
				t.Fatalf("whole list: %+v", all)
			}
			first := get("/api/v1/runs?limit=2")
			if first.NextCursor == nil || first.PrevCursor != nil || first.Total != 5 || !first.TotalExact {
				t.Fatalf("first page: %+v", first)
			}
			second := get("/api/v1/runs?limit=2&before=" + url.QueryEscape(*first.NextCursor))
			third := get("/api/v1/runs?limit=2&before=" + url.QueryEscape(*second.NextCursor))
			if third.NextCursor != nil || len(third.Items) != 1 || second.PrevCursor == nil {
				t.Fatalf("last page: %+v (second %+v)", third, second)
			}
			var walked []string
			for _, p := range []listPage{first, second, third} {
				for _, it := range p.Items {
					walked = append(walked, it.RunID)
				}
			}
			for i, it := range all.Items {
				if walked[i] != it.RunID {
					t.Fatalf("walk %v differs from the list %+v", walked, all.Items)
				}
			}
			back := get("/api/v1/runs?limit=2&after=" + url.QueryEscape(*second.PrevCursor))
			if len(back.Items) != 2 || back.Items[0].RunID != first.Items[0].RunID || back.PrevCursor != nil {
				t.Errorf("going back to the first page: %+v", back)
			}

			for _, tc := range []struct{ path, want string }{
				{"/api/v1/runs?before=not-a-cursor", "Invalid cursor."},
				{"/api/v1/runs?after=" + url.QueryEscape(*first.NextCursor) + "&before=" + url.QueryEscape(*first.NextCursor), "Use before or after, not both."},
				{"/api/v1/audit-events?before=bm9wZQ", "Invalid cursor."},
			} {
				rec := b.call(t, "admin", http.MethodGet, tc.path, "", "")
				if rec.Code != http.StatusBadRequest {
					t.Errorf("GET %s: %d %s, want 400", tc.path, rec.Code, rec.Body)
					continue
				}
				var e struct {
					Detail string `json:"detail"`
				}
				jsonBody(t, rec.Body.Bytes(), &e)
				if e.Detail != tc.want {
					t.Errorf("GET %s: detail %q, want %q", tc.path, e.Detail, tc.want)
				}
			}

			events := get("/api/v1/audit-events?limit=3")
			if len(events.Items) != 3 || events.NextCursor == nil || !events.TotalExact {
				t.Fatalf("audit first page: %+v", events)
			}
			more := get("/api/v1/audit-events?limit=3&before=" + url.QueryEscape(*events.NextCursor))
			if len(more.Items) == 0 || more.Items[0].ID >= events.Items[2].ID {
				t.Errorf("audit second page %+v does not follow %+v", more.Items, events.Items)
			}
		})
	}
}
