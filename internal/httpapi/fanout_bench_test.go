package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/bus"
	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// BenchmarkLogFanOut connects 200 WebSocket viewers to one chatty run and
// checks that every viewer receives every line exactly once, in order.
func BenchmarkLogFanOut(bm *testing.B) {
	const viewers, lines = 200, 20_000
	b := setupAPI(bm, "sqlite")
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	for bm.Loop() {
		runID := queuedRun(bm, b)
		ctx := context.Background()
		now := time.Now().UTC()
		if _, ok, err := b.db.ClaimRun(ctx, runID, "w", "h", now, now.Add(time.Hour)); !ok || err != nil {
			bm.Fatal(ok, err)
		}
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/ws/runs/" + runID + "/logs?after_seq=0"
		var wg sync.WaitGroup
		got := make([]int64, viewers)
		connected := make(chan struct{}, viewers)
		start := time.Now()
		for v := range viewers {
			wg.Go(func() {
				c, err := dial(bm, url, b.tokens["viewer"], false)
				if err != nil {
					bm.Error(err)
					connected <- struct{}{}
					return
				}
				defer c.CloseNow()
				connected <- struct{}{}
				var last int64
				for {
					_, data, err := c.Read(ctx)
					if err != nil {
						break
					}
					var f frame
					json.Unmarshal(data, &f)
					if f.Type == "status" {
						break
					}
					if f.Seq != last+1 {
						bm.Errorf("viewer %d: seq %d after %d", v, f.Seq, last)
						return
					}
					last = f.Seq
				}
				got[v] = last
			})
		}
		for range viewers {
			<-connected
		}
		// The robot: batches of 100 lines, as the log pump writes them.
		for i := 0; i < lines; i += 100 {
			batch := make([]hub.LogLine, 0, 100)
			for j := i; j < i+100; j++ {
				batch = append(batch, hub.LogLine{RunID: runID, Seq: int64(j + 1), Timestamp: time.Now().UTC(), Level: hub.LevelInfo, Message: "chatty robot line"})
			}
			if err := b.db.AppendLogs(ctx, batch); err != nil {
				bm.Fatal(err)
			}
			b.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeLogBatch(batch))
		}
		if ok, err := b.db.FinishRun(ctx, runID, "w", hub.RunResult{Status: hub.RunSuccess, FinishedAt: time.Now().UTC()}, nil, nil); !ok || err != nil {
			bm.Fatal(ok, err)
		}
		b.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeStatus(runID, hub.RunSuccess))
		wg.Wait()
		elapsed := time.Since(start)
		for v, n := range got {
			if n != lines {
				bm.Errorf("viewer %d received %d of %d lines", v, n, lines)
			}
		}
		bm.ReportMetric(float64(viewers*lines)/elapsed.Seconds(), "frames/s")
		bm.ReportMetric(elapsed.Seconds(), "s-until-all-viewers-done")
	}
}
