package httpapi_test

import (
	"archive/zip"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"automationhub/internal/hubtest"
)

// BenchmarkPublish200MB publishes a 200 MB package through the real HTTP
// stack (TCP, multipart streaming, hashing, ZIP validation, store) and
// reports throughput and the peak heap seen while it ran: the upload is
// streamed, so memory stays flat whatever the package size.
func BenchmarkPublish200MB(bm *testing.B) {
	const size = 200 << 20
	b := setupAPISized(bm, "sqlite", 256<<20)
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	id := b.newRobot(bm, "bench-robot")
	pkg := filepath.Join(bm.TempDir(), "pkg.zip")
	writeBigZip(bm, pkg, size)
	st, _ := os.Stat(pkg)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stopPeak := hubtest.PeakHeap()
	bm.SetBytes(st.Size())
	bm.ResetTimer()
	i := 0
	for bm.Loop() {
		i++
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("version", fmt.Sprintf("2.0.%d", i))
			mw.WriteField("channel", "stable")
			fw, _ := mw.CreateFormFile("artifact", "pkg.zip")
			f, _ := os.Open(pkg)
			io.Copy(fw, f)
			f.Close()
			pw.CloseWithError(mw.Close())
		}()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/robots/"+id+"/versions/publish", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+b.tokens["maintainer"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			bm.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			bm.Fatalf("publish: %d", resp.StatusCode)
		}
	}
	bm.StopTimer()
	peak := stopPeak()
	bm.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	bm.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "heap-growth-MB")
	bm.ReportMetric(float64(st.Size())/(1<<20), "artifact-MB")
}

// writeBigZip writes a ZIP of about size bytes: main.py plus incompressible
// data files, so the package is as large on the wire as it is unpacked.
func writeBigZip(tb testing.TB, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("main.py")
	w.Write([]byte("print('big')\n"))
	chunk := make([]byte, 1<<20)
	for n := int64(0); n < size; n += 10 << 20 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("data/part-%03d.bin", n>>20), Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		for k := 0; k < 10; k++ {
			rand.Read(chunk)
			w.Write(chunk)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}
