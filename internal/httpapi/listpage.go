package httpapi

import "automationhub/internal/hub"

// listMeta is what a list answer says beside its items.
type listMeta struct {
	Total      int     `json:"total" doc:"Matching items: exact when total_exact, otherwise a lower bound (counting stops a little past the requested page)."`
	TotalExact bool    `json:"total_exact" doc:"Whether total is the exact number of matching items."`
	NextCursor *string `json:"next_cursor" doc:"Pass as before for the following (older) page; null on the last page."`
	PrevCursor *string `json:"prev_cursor" doc:"Pass as after for the preceding (newer) page; null on the first page."`
}

func newListMeta(info hub.ListInfo) listMeta {
	m := listMeta{Total: info.Total, TotalExact: info.Exact}
	if info.Next != nil {
		c := info.Next.String()
		m.NextCursor = &c
	}
	if info.Prev != nil {
		c := info.Prev.String()
		m.PrevCursor = &c
	}
	return m
}

// listPage turns the paging query parameters into a hub.Page: skip and
// limit, and at most one of the before/after cursors.
func listPage(skip, limit int, before, after string) (hub.Page, error) {
	p := hub.Page{Skip: skip, Limit: limit}
	if before != "" && after != "" {
		return p, hub.Errorf(hub.EInvalid, "Use before or after, not both.")
	}
	var err error
	switch {
	case before != "":
		p.Before, err = hub.ParseCursor(before)
	case after != "":
		p.After, err = hub.ParseCursor(after)
	}
	return p, err
}
