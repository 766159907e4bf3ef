package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Configuration files of tests: writing them and changing them.

// writeConfig writes cfg as dir/umbra.yaml and returns its path.
func writeConfig(t testing.TB, dir, cfg string) string {
	t.Helper()
	path := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendConfig adds text (whole sections) at the end of a configuration
// file.
func appendConfig(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
