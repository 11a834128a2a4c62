//go:build windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"automationhub/internal/agent"
)

// agentServiceName is the Windows service of the agent.
const agentServiceName = "AutomationHubAgent"

// agentService is `hub agent install|uninstall`. install enrols the agent
// now (the token never goes into the service's command line), then
// registers a service that starts with Windows and runs
// `hub agent --service` with the same server, data folder and labels.
func agentService(ctx context.Context, verb string, args, environ []string, stdout, stderr io.Writer) int {
	name := "hub agent " + verb
	if verb == "uninstall" {
		if err := uninstallAgentService(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "Service %s removed.\n", agentServiceName)
		return exitOK
	}
	f, ok, code := parseAgentFlags(name, args, environ, stderr)
	if !ok {
		return code
	}
	if _, _, err := agent.Enrol(ctx, agent.Options{Server: f.server, Token: f.token, DataDir: f.dataDir, Labels: splitLabels(f.labels), Version: version}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	exe, _ = filepath.Abs(exe)
	m, err := mgr.Connect()
	if err != nil {
		fmt.Fprintf(stderr, "%s: connect to the service manager (run as Administrator): %v\n", name, err)
		return exitFailed
	}
	defer m.Disconnect()
	if s, err := m.OpenService(agentServiceName); err == nil {
		s.Close()
		fmt.Fprintf(stderr, "%s: service %s exists already (hub agent uninstall first)\n", name, agentServiceName)
		return exitFailed
	}
	svcArgs := []string{"agent", "--service", "--server", f.server, "--data-dir", f.dataDir,
		"--concurrency", fmt.Sprint(f.concurrency), "--spool-max-bytes", fmt.Sprint(f.spoolMaxBytes)}
	if f.labels != "" {
		svcArgs = append(svcArgs, "--labels", f.labels)
	}
	s, err := m.CreateService(agentServiceName, exe, mgr.Config{
		DisplayName: "Automation Hub agent",
		Description: "Runs robots for the Automation Hub at " + f.server + " (outbound HTTPS only).",
		StartType:   mgr.StartAutomatic, DelayedAutoStart: true,
	}, svcArgs...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: create the service: %v\n", name, err)
		return exitFailed
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: the service was created but did not start: %v\n", name, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Service %s installed and started. Robots that drive a desktop need an agent started in a signed-in session instead (see docs/agents.md).\n", agentServiceName)
	return exitOK
}

func uninstallAgentService() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(agentServiceName)
	if err != nil {
		return fmt.Errorf("service %s is not installed", agentServiceName)
	}
	defer s.Close()
	if st, err := s.Control(svc.Stop); err == nil {
		for deadline := time.Now().Add(time.Minute); st.State != svc.Stopped && time.Now().Before(deadline); {
			time.Sleep(300 * time.Millisecond)
			if st, err = s.Query(); err != nil {
				break
			}
		}
	}
	return s.Delete()
}

// agentHandler runs the agent under the service control manager.
type agentHandler struct {
	f   *agentFlags
	log io.Writer
}

// Execute implements svc.Handler: the agent runs until Stop or Shutdown.
func (h agentHandler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runAgentWith(ctx, h.f, h.log, nil) }()
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			changes <- svc.Status{State: svc.StopPending}
			if err != nil {
				return true, 1
			}
			return false, 0
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				changes <- svc.Status{State: svc.StopPending, WaitHint: uint32((time.Duration(h.f.shutdownSeconds)*time.Second + 10*time.Second) / time.Millisecond)}
				cancel()
			}
		}
	}
}

// runAgentService runs the agent as the Windows service; its log goes to
// agent.log in the data folder.
func runAgentService(f *agentFlags, stderr io.Writer) int {
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		fmt.Fprintf(stderr, "hub agent: %v\n", err)
		return exitFailed
	}
	logFile, err := os.OpenFile(filepath.Join(f.dataDir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "hub agent: %v\n", err)
		return exitFailed
	}
	defer logFile.Close()
	if err := svc.Run(agentServiceName, agentHandler{f: f, log: logFile}); err != nil {
		fmt.Fprintf(logFile, "hub agent: service: %v\n", err)
		return exitFailed
	}
	return exitOK
}
