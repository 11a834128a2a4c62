//go:build !windows

package main

import (
	"context"
	"fmt"
	"io"
)

// agentService is `hub agent install|uninstall`: a Windows service there;
// elsewhere the systemd unit deploy/systemd/hub-agent.service does it.
func agentService(_ context.Context, verb string, _, _ []string, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "hub agent %s: Windows only; on Linux install deploy/systemd/hub-agent.service (see docs/agents.md)\n", verb)
	return exitUsage
}

// runAgentService runs the agent under the Windows service control manager.
func runAgentService(_ *agentFlags, stderr io.Writer) int {
	fmt.Fprintln(stderr, "hub agent: --service is for the Windows service control manager")
	return exitUsage
}
