//go:build !unix

package main

import "testing"

// runHubCommandAs needs Unix credentials.
func runHubCommandAs(t *testing.T, dir string, uid uint32, args []string, env ...string) cliResult {
	t.Skip("running as another user needs Unix")
	return cliResult{}
}
