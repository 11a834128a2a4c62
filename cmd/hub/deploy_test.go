package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The files under deploy/ that operators copy, as the tests find them.
const (
	deployDir     = "../../deploy"
	unitBinary    = "/usr/local/bin/hub"
	unitEnvFile   = "/etc/automation-hub/hub.env"
	defaultDrainS = 30 // HUB_SHUTDOWN_TIMEOUT_SECONDS's default
)

var systemdUnits = map[string]string{ // unit file → the command it runs
	"automation-hub-serve.service":   "serve",
	"automation-hub-worker.service":  "worker",
	"automation-hub-cleanup.service": "cleanup",
}

// unitSettings reads a unit file's Key=Value lines (repeated keys keep
// every value, in order).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not Key=Value", path, line)
			continue
		}
		out[k] = append(out[k], v)
	}
	return out
}

// TestSystemdUnits checks the service units in deploy/systemd the way
// systemd reads them — `systemd-analyze verify`, with the hub binary built
// from this tree in place of /usr/local/bin/hub and the worker's
// robot-user drop-in beside it — and that they keep the properties the hub
// relies on: the environment file, restart on failure, a stop timeout above
// the hub's own drain, and for the worker what robot confinement needs.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	src := filepath.Join(deployDir, "systemd")
	for unit, role := range systemdUnits {
		s := unitSettings(t, filepath.Join(src, unit))
		want := map[string]string{"ExecStart": unitBinary + " " + role, "Restart": "on-failure", "KillMode": "mixed",
			"User": "automation-hub", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
			"PrivateTmp": "yes", "RestartPreventExitStatus": "2"}
		if role == "worker" {
			want["Delegate"] = "yes"
			want["ProtectControlGroups"] = "no"
		}
		for k, v := range want {
			if !slices.Contains(s[k], v) {
				t.Errorf("%s: %s=%v, want %s", unit, k, s[k], v)
			}
		}
		if !slices.Contains(s["EnvironmentFile"], unitEnvFile) {
			t.Errorf("%s: EnvironmentFile=%v, want %s", unit, s["EnvironmentFile"], unitEnvFile)
		}
		stop, _ := strconv.Atoi(strings.TrimSuffix(strings.Join(s["TimeoutStopSec"], ""), "s"))
		// The worker needs the drain, the robots' grace period (5 s) and
		// time to record them; the others the drain and a margin.
		if min := defaultDrainS + 10; role == "worker" && stop < defaultDrainS+15 || stop < min {
			t.Errorf("%s: TimeoutStopSec=%v is too short for HUB_SHUTDOWN_TIMEOUT_SECONDS=%d", unit, s["TimeoutStopSec"], defaultDrainS)
		}
		if role == "worker" {
			// Robots inherit these; confinement is Landlock + cgroups.
			for _, k := range []string{"SystemCallFilter", "MemoryDenyWriteExecute", "RestrictAddressFamilies", "RestrictNamespaces", "ProtectProc"} {
				if len(s[k]) > 0 {
					t.Errorf("%s sets %s, which robots would inherit", unit, k)
				}
			}
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the units were not verified by systemd")
	}
	bin := hubBinary(t)
	dir := t.TempDir()
	err = filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), bytes.ReplaceAll(b, []byte(unitBinary), []byte(bin)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for unit := range systemdUnits {
		cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, unit))
		out, err := cmd.CombinedOutput()
		// systemd only warns, and exits 0, for an unknown key or a value it
		// cannot parse: any line it prints is a mistake in the unit.
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
}

// systemdSet expands a systemd system call set (@system-service …) into
// system call names with systemd-analyze.
func systemdSet(t *testing.T, name string) map[string]bool {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "syscall-filter", name).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
	}
	calls := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == name || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "@"):
			for c := range systemdSet(t, line) {
				calls[c] = true
			}
		default:
			calls[line] = true
		}
	}
	return calls
}

var (
	straceCall   = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)
	straceSocket = regexp.MustCompile(`\ssocket\((AF_[A-Z0-9]+)`)
)

// TestSystemdSyscallFilterAllowsHub runs `hub serve` and `hub cleanup` under
// strace, serving requests and a retention pass, and checks that every system
// call they make passes the units' filter (SystemCallFilter=@system-service
// and ~@privileged) and every socket their RestrictAddressFamilies: a
// toolchain or library that starts using another call fails here instead of
// in production with EPERM.
func TestSystemdSyscallFilterAllowsHub(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"strace", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	for _, unit := range []string{"automation-hub-serve.service", "automation-hub-cleanup.service"} {
		s := unitSettings(t, filepath.Join(deployDir, "systemd", unit))
		if !slices.Equal(s["SystemCallFilter"], []string{"@system-service", "~@privileged"}) {
			t.Fatalf("%s: SystemCallFilter=%v; this test checks @system-service and ~@privileged", unit, s["SystemCallFilter"])
		}
	}
	allowed, denied := systemdSet(t, "@system-service"), systemdSet(t, "@privileged")
	bin := hubBinary(t)
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "HUB_DATA_DIR=" + filepath.Join(dir, "data"), "HUB_ADDR=127.0.0.1:0",
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "HUB_WORKER_ADDR=127.0.0.1:0"}

	serve := exec.Command("strace", "-f", "-qq", "-o", trace+".serve", bin, "serve")
	serve.Dir, serve.Env = dir, env
	p := &hubProcess{cmd: serve, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	serve.Stdout, serve.Stderr = p.stdout, p.stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- serve.Wait() }()
	p.URL = p.waitFor(t, "running at ")
	// Stop the hub itself (strace's only child), as systemd would; strace
	// then exits with its status. Killing strace alone would leave it running.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", serve.Process.Pid, serve.Process.Pid))
	hubPID, _ := strconv.Atoi(strings.TrimSpace(string(kids)))
	if err != nil || hubPID == 0 {
		_ = serve.Process.Kill()
		t.Fatalf("find the hub under strace: %q %v", kids, err)
	}
	hubProc, err := os.FindProcess(hubPID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = hubProc.Kill()
		_ = serve.Process.Kill()
	})
	c := login(t, p.URL+"/api/v1", "admin", "admin-password-1")
	c.shellRobot("traced", "#!/bin/sh\necho hi\n") // an upload into the artifact store
	for _, path := range []string{"/readyz", "/metrics", "/login", "/api/v1/runs"} {
		get(t, p.URL+path)
	}
	if err := hubProc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hub serve under strace: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("hub serve did not stop")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cleanup := exec.CommandContext(ctx, "strace", "-f", "-qq", "-o", trace+".cleanup", bin, "cleanup", "--once")
	cleanup.Dir, cleanup.Env = dir, env
	if out, err := cleanup.CombinedOutput(); err != nil {
		t.Fatalf("hub cleanup --once under strace: %v\n%s", err, out)
	}

	for _, role := range []string{"serve", "cleanup"} {
		b, err := os.ReadFile(trace + "." + role)
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			if m := straceCall.FindStringSubmatch(line); m != nil && m[1] != "execve" {
				used[m[1]] = true
			}
			// RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
			if m := straceSocket.FindStringSubmatch(line); m != nil && m[1] != "AF_UNIX" && m[1] != "AF_INET" && m[1] != "AF_INET6" {
				t.Errorf("hub %s opens an %s socket, which the unit's RestrictAddressFamilies refuses", role, m[1])
			}
		}
		if len(used) < 20 {
			t.Fatalf("hub %s: only %d system calls traced; strace output:\n%s", role, len(used), b)
		}
		for call := range used {
			if !allowed[call] || denied[call] {
				t.Errorf("hub %s calls %s, which the unit's SystemCallFilter refuses", role, call)
			}
		}
		t.Logf("hub %s: %d distinct system calls, all allowed", role, len(used))
	}
}

// selfSignedCert writes a certificate and key for hub.example.com and
// 127.0.0.1 into dir and returns their paths.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub.example.com"},
		DNSNames: []string{"hub.example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// nginxSite is deploy/nginx/automation-hub.conf with each old string
// replaced by its new one; every old string must occur exactly once, so the
// test notices when the example changes shape.
func nginxSite(t *testing.T, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "nginx", "automation-hub.conf"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if n := strings.Count(s, replace[i]); n != 1 {
			t.Fatalf("deploy/nginx/automation-hub.conf has %q %d times, want once", replace[i], n)
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// nginxMain writes an nginx.conf in dir that includes site in its http
// block, as /etc/nginx/nginx.conf includes conf.d/*.conf.
func nginxMain(t *testing.T, dir, site string, foreground bool) string {
	t.Helper()
	sitePath := filepath.Join(dir, "automation-hub.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	head := ""
	if foreground {
		// One process, in the foreground, as the test's user.
		head = "daemon off;\nmaster_process off;\n"
	}
	conf := head + "pid " + filepath.Join(dir, "nginx.pid") + ";\nerror_log " + filepath.Join(dir, "error.log") + ";\n" +
		"events {}\nhttp {\n    access_log off;\n    include " + sitePath + ";\n}\n"
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReverseProxyExamplesParse checks deploy/nginx/automation-hub.conf with
// `nginx -t` (certificates replaced by a test one) and deploy/caddy/Caddyfile
// with `caddy validate`, each where the tool is installed.
func TestReverseProxyExamplesParse(t *testing.T) {
	t.Parallel()
	t.Run("nginx", func(t *testing.T) {
		t.Parallel()
		nginx, err := exec.LookPath("nginx")
		if err != nil {
			t.Skip("nginx is not installed (apt-get install nginx)")
		}
		dir := t.TempDir()
		cert, key := selfSignedCert(t, dir)
		site := nginxSite(t, "/etc/ssl/certs/hub.example.com.pem", cert, "/etc/ssl/private/hub.example.com.key", key)
		conf := nginxMain(t, dir, site, false)
		out, err := exec.Command(nginx, "-t", "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "test is successful") {
			t.Errorf("nginx -t: %v\n%s", err, out)
		}
	})
	t.Run("caddy", func(t *testing.T) {
		t.Parallel()
		caddy, err := exec.LookPath("caddy")
		if err != nil {
			t.Skip("caddy is not installed (apt-get install caddy)")
		}
		// validate provisions the configuration without serving it; it
		// probes the upstream once (127.0.0.1), nothing else.
		cmd := exec.Command(caddy, "validate", "--config", filepath.Join(deployDir, "caddy", "Caddyfile"), "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Valid configuration") {
			t.Errorf("caddy validate: %v\n%s", err, out)
		}
		if strings.Contains(string(out), `"level":"warn"`) {
			t.Errorf("caddy validate warns:\n%s", out)
		}
	})
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestNginxExampleProxiesLiveLogs puts nginx with deploy/nginx's example
// (listen addresses, certificate and upstream pointed at the test's) in front
// of a real hub and uses the hub through it: HTTP is redirected to HTTPS,
// /metrics is kept off, the web UI signs in, and a run's live log streams
// over both WebSockets, the API's (token) and the run page's (session
// cookie, with the browser's Origin header).
func TestNginxExampleProxiesLiveLogs(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	hub := startHubProcess(t, t.TempDir(), "HUB_ADDR=127.0.0.1:0", "DEFAULT_ADMIN_PASSWORD=admin-password-1",
		"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "TRUSTED_PROXIES=127.0.0.1")
	direct := login(t, hub.URL+"/api/v1", "admin", "admin-password-1")
	robot := direct.shellRobot("proxied", "#!/bin/sh\necho through the proxy\n")
	var run runView
	direct.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
	if run = direct.waitRun(run.RunID, 60*time.Second); run.Status != "SUCCESS" {
		t.Fatalf("run: %s", run.Status)
	}

	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir)
	httpsPort, httpPort := freePort(t), freePort(t)
	upstream := strings.TrimPrefix(hub.URL, "http://")
	site := nginxSite(t,
		"/etc/ssl/certs/hub.example.com.pem", cert, "/etc/ssl/private/hub.example.com.key", key,
		"server 127.0.0.1:8000 ", "server "+upstream+" ",
		"listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", httpsPort),
		"listen [::]:443 ssl http2;", "",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort),
		"listen [::]:80;", "")
	conf := nginxMain(t, dir, site, true)
	proxy := exec.Command(nginx, "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"))
	var proxyOut lockedBuffer
	proxy.Stdout, proxy.Stderr = &proxyOut, &proxyOut
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proxy.Process.Kill()
		_ = proxy.Wait()
	})
	base := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own certificate
	noFollow := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := noFollow.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx does not answer: %v\n%s\n%s", err, proxyOut.String(), errLog)
		}
		time.Sleep(50 * time.Millisecond)
	}

	resp, err := noFollow.Get(fmt.Sprintf("http://127.0.0.1:%d/runs", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "https://127.0.0.1/runs" {
		t.Errorf("plain HTTP: got %d to %q, want 301 to https://127.0.0.1/runs", resp.StatusCode, loc)
	}
	if resp, err := noFollow.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through the proxy: got %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}

	// The API: sign in through the proxy, then its log socket with the token.
	resp, err = noFollow.PostForm(base+"/api/v1/auth/token", url.Values{"username": {"admin"}, "password": {"admin-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("sign-in through the proxy: %d", resp.StatusCode)
	}
	wsBase := strings.Replace(base, "https://", "wss://", 1)
	readLog := func(label, url string, opts *websocket.DialOptions) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			t.Errorf("%s: handshake through the proxy: %v %v", label, err, resp)
			return
		}
		defer conn.CloseNow()
		var msgs []string
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				break
			}
			var fr struct{ Type, Status, Message string }
			_ = json.Unmarshal(data, &fr)
			if fr.Type == "status" {
				if fr.Status != "SUCCESS" {
					t.Errorf("%s: status frame %s, want SUCCESS", label, data)
				}
				break
			}
			msgs = append(msgs, fr.Message)
		}
		if !containsLine(msgs, "through the proxy") {
			t.Errorf("%s: log over the socket lacks the robot's line: %q", label, msgs)
		}
	}
	readLog("API socket", wsBase+"/api/v1/ws/runs/"+run.RunID+"/logs?token="+url.QueryEscape(tok.AccessToken),
		&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})

	// The web UI: sign in with the form, then the run page's socket with
	// the session cookie and the page's origin.
	ui := newUIClient(t, base, true)
	ui.client.Transport = tr
	if code, _ := ui.get("/login"); code != 200 {
		t.Fatalf("GET /login through the proxy: %d", code)
	}
	if code, body := ui.post("/login", url.Values{"username": {"admin"}, "password": {"admin-password-1"}}); code != 200 || strings.Contains(body, `action="/login"`) {
		t.Fatalf("web UI sign-in through the proxy: %d", code)
	}
	readLog("run page socket", wsBase+"/runs/"+run.RunID+"/logs/ws?after_seq=0",
		&websocket.DialOptions{HTTPClient: ui.client, HTTPHeader: http.Header{"Origin": {base}}})
}
