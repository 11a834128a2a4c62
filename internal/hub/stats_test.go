package hub_test

import (
	"math"
	"testing"

	"automationhub/internal/hub"
)

func TestHistQuantile(t *testing.T) {
	t.Parallel()
	h := hub.NewHist()
	if _, ok := h.Quantile(0.5); ok {
		t.Fatal("empty histogram has a median")
	}
	for range 50 {
		h.Add(45) // (30, 60]
	}
	for range 50 {
		h.Add(500) // (300, 600]
	}
	tests := []struct {
		q, want float64
	}{{0.5, 60}, {0.9, 540}, {0.25, 45}}
	for _, tt := range tests {
		got, _ := h.Quantile(tt.q)
		if math.Abs(got-tt.want) > 0.001 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
