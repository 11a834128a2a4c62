package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkLoginBurst measures what a burst of 200 concurrent wrong logins
// costs everyone else: while it is in flight, an administrator signs in
// (from another address) and, until that login is answered, reads
// GET /api/v1/runs again and again. Passwords are hashed
// at the production cost (12). Two bursts: all from one address for one
// name (the failure limiter stops most at once), and from 200 addresses for
// 200 names (only the bounded hashing slots protect the server).
//
//	go test -run XXX -bench LoginBurst -benchtime 3x ./cmd/hub
func BenchmarkLoginBurst(b *testing.B) {
	const burst = 200
	_, base := startUIHub(b, "sqlite", map[string]string{"PASSWORD_HASH_COST": "12", "TRUSTED_PROXIES": "127.0.0.1"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burst + 10}, Timeout: 2 * time.Minute}
	post := func(name, password, ip string) (int, time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/auth/token",
			strings.NewReader(url.Values{"username": {name}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	admin := login(b, base+"/api/v1", "admin", "admin-password-1")
	get := func() time.Duration {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/runs?limit=5", nil)
		req.Header.Set("Authorization", "Bearer "+admin.token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /runs: %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for _, spread := range []bool{false, true} {
		name := "one-address"
		if spread {
			name = "200-addresses"
		}
		round := 0
		b.Run(name, func(b *testing.B) {
			var loginTotal, getTotal time.Duration
			gets := 0
			answers := map[int]int{}
			for b.Loop() {
				round++
				start := make(chan struct{})
				var wg sync.WaitGroup
				var mu sync.Mutex
				for i := range burst {
					who, ip := fmt.Sprintf("victim-%s-%d", name, round), fmt.Sprintf("192.0.2.%d", round)
					if spread {
						who, ip = fmt.Sprintf("ghost-%d-%d", round, i), fmt.Sprintf("10.%d.%d.%d", round, i/250, i%250+1)
					}
					wg.Go(func() {
						<-start
						code, _ := post(who, "wrong-password", ip)
						mu.Lock()
						answers[code]++
						mu.Unlock()
					})
				}
				close(start)
				var adminCode int
				var adminTook time.Duration
				done := make(chan struct{})
				go func() {
					defer close(done)
					adminCode, adminTook = post("admin", "admin-password-1", "198.51.100.7")
				}()
				// Read the runs list over and over until the login is answered.
				for waiting := true; waiting; {
					getTotal += get()
					gets++
					select {
					case <-done:
						waiting = false
					default:
					}
				}
				loginTotal += adminTook
				answers[-adminCode]++ // the administrator's answers, negated
				wg.Wait()
			}
			loginMs := float64(loginTotal.Milliseconds()) / float64(b.N)
			getMs := float64(getTotal.Microseconds()) / 1000 / float64(gets)
			b.ReportMetric(loginMs, "admin-login-ms")
			b.ReportMetric(getMs, "get-runs-ms")
			b.Logf("%s: admin login %.0f ms, GET /runs %.1f ms (mean of %d during the burst); answers %v (negative: the administrator's)",
				name, loginMs, getMs, gets, answers)
		})
	}
}
