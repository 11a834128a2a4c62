package main

import (
	"os"
	"strings"
	"testing"

	"automationhub/internal/config"
)

// TestReadmeDocumentsEverySetting keeps the README's settings table in step
// with the code.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !strings.Contains(string(readme), "| `"+s.Name+"` |") {
			t.Errorf("README.md has no settings-table row for %s", s.Name)
		}
	}
	for _, cmd := range commands {
		if !strings.Contains(string(readme), "hub "+cmd.name) && cmd.name != "all" {
			t.Errorf("README.md does not mention `hub %s`", cmd.name)
		}
	}
}
