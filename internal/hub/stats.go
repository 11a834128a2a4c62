package hub

import "sort"

// DurationBounds are the upper bounds (seconds) of the duration histogram
// buckets the dashboard keeps per day; a last bucket holds longer runs.
var DurationBounds = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400}

// Hist counts run durations in the buckets of DurationBounds (one more
// bucket than bounds, for longer runs).
type Hist []int64

// NewHist returns an empty histogram.
func NewHist() Hist { return make(Hist, len(DurationBounds)+1) }

// Add counts one duration.
func (h Hist) Add(seconds float64) {
	i := sort.SearchFloat64s(DurationBounds, seconds)
	h[i]++
}

// Merge adds o into h.
func (h Hist) Merge(o Hist) {
	for i := range h {
		if i < len(o) {
			h[i] += o[i]
		}
	}
}

// Count is the number of durations counted.
func (h Hist) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0..1) in seconds, interpolating
// inside the bucket it falls in; ok is false when h is empty.
func (h Hist) Quantile(q float64) (float64, bool) {
	n := h.Count()
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var cum float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = DurationBounds[i-1]
			}
			hi := lo * 2
			if i < len(DurationBounds) {
				hi = DurationBounds[i]
			}
			return lo + (hi-lo)*(rank-cum)/float64(c), true
		}
		cum += float64(c)
	}
	return DurationBounds[len(DurationBounds)-1], true
}

// DayStat is the finished runs of one robot (and service, "" for none) on
// one day of the hub's time zone.
type DayStat struct {
	Day       string // YYYY-MM-DD
	RobotID   string
	ServiceID string
	Success   int64
	Failed    int64
	Canceled  int64
	Hist      Hist
}

// FailureGroup is failed runs with one error message.
type FailureGroup struct {
	Message  string
	RobotID  string
	Count    int64
	LastSeen *string // RFC 3339
}
