package agent

import (
	"encoding/json"
	"io"
	"time"

	"automationhub/internal/hub"
)

// wireLine is a log line on the wire and in the spool.
type wireLine struct {
	Seq       int64     `json:"seq"`
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"`
	Message   string    `json:"message"`
}

func wireLines(lines []hub.LogLine) []wireLine {
	out := make([]wireLine, len(lines))
	for i, l := range lines {
		out[i] = wireLine{Seq: l.Seq, Timestamp: l.Timestamp, Level: l.Level, Message: l.Message}
	}
	return out
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
