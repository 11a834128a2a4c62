package hub

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page asks for one page of a list ordered newest first. Skip counts items
// from the start of the list, or from the cursor when one is given; Before
// asks for the items older than a cursor, After for the items newer than it
// (still returned newest first). At most one cursor is set.
type Page struct {
	Skip, Limit   int
	Before, After *Cursor
}

// Cursor marks a place in a list ordered by (time, id) newest first. Its
// text form is opaque to clients.
type Cursor struct {
	At time.Time
	ID string
}

// String encodes the cursor for a client: URL-safe, opaque.
func (c Cursor) String() string {
	raw := strconv.FormatInt(c.At.UnixMicro(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor decodes a cursor a client sent back; EInvalid when it is not
// one this hub made.
func ParseCursor(s string) (*Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, Errorf(EInvalid, "Invalid cursor.")
	}
	at, id, ok := strings.Cut(string(raw), ".")
	micros, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 64 {
		return nil, Errorf(EInvalid, "Invalid cursor.")
	}
	return &Cursor{At: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// ListInfo describes a page of a list beside its items.
type ListInfo struct {
	// Total is how many items match the filter when Exact; otherwise a
	// lower bound that is larger than Skip plus the items returned whenever
	// more items follow (counting stops there, so that a page costs the
	// same in a table of a million rows as in one of a thousand).
	Total int
	Exact bool
	// Next, passed as Before, gives the following (older) page; nil when
	// this page is the last. Prev, passed as After, gives the preceding
	// (newer) page; nil when this page is the first.
	Next, Prev *Cursor
}
