package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-4, rt27c F3: a second daemon whose tracking.path named the first
// one's queue.db passed config check, started, and its rotation renamed
// and then deleted the first daemon's live transport database. Now
// config check and serve refuse a tracking path whose file is not a
// tracking log (a bbolt file here), and a second daemon given the
// tracking log another one writes is refused at its start (the file is
// locked): neither touches the file.
func TestTrackingPathOfAnotherDaemonRefused(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	os.MkdirAll(filepath.Join(dir, "victim"), 0o700)
	victim := relayConfig(t, filepath.Join(dir, "victim"), listen, reserveAddr(t, "127.0.0.1"))
	startUmbra(t, victim, listen)
	victimData := filepath.Join(dir, "victim", "data")
	for _, tc := range []struct{ name, path, check, serve string }{
		{"database", filepath.Join(victimData, "queue.db"), "is not a tracking log (a bbolt database", "is not a tracking log (a bbolt database"},
		{"log", filepath.Join(victimData, "tracking.log"), "", "is locked by another process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(dir, "other-"+tc.name), 0o700)
			other := relayConfig(t, filepath.Join(dir, "other-"+tc.name), freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1"))
			b, _ := os.ReadFile(other)
			os.WriteFile(other, append(b, fmt.Sprintf("tracking:\n  path: %s\n  max_size: 4KiB\n  max_files: 1\n", tc.path)...), 0o600)
			out, err := exec.Command(umbraBin, "config", "check", other).CombinedOutput()
			if tc.check == "" {
				if err != nil {
					t.Fatalf("config check refused another daemon's tracking log (a start is refused while it runs, not the file): %v\n%s", err, out)
				}
			} else if err == nil || !strings.Contains(string(out), "other-"+tc.name+"/umbra.yaml:") || !strings.Contains(string(out), tc.check) {
				t.Fatalf("config check: %v\n%s\nwant an error at tracking.path's line containing %q", err, out, tc.check)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err = exec.CommandContext(ctx, umbraBin, "serve", "--config", other).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.serve) {
				t.Fatalf("serve: %v\n%s\nwant it refused with %q", err, out, tc.serve)
			}
			after, err := os.Stat(tc.path)
			if err != nil || !os.SameFile(before, after) || after.Size() != before.Size() {
				t.Fatalf("%s was changed: %v", tc.path, err)
			}
		})
	}
}
