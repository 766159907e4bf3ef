package admin

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// OPS-3: serveProcs, the scan that finds the `umbra serve` processes a
// command's answer names (the daemon started with the command's
// configuration file, "umbra runs, but not at this admin socket" and
// how many more), stopped after 64: on a host with more, the daemon
// that holds the command's data directory could be left out, unsaid.
// Real processes here (sh, waiting on its standard input, with a
// command line that reads as serve's), more than 64 of them.
func TestOPS3ServeProcsHasNoCap(t *testing.T) {
	const n = 70
	dir := t.TempDir()
	want := map[int]string{}
	for i := range n {
		cfg := filepath.Join(dir, fmt.Sprintf("hub%d.yaml", i))
		// argv: sh -c SCRIPT serve -c CFG — serveSubcommand skips -c
		// and its value and finds serve, as in "umbra -c X serve".
		cmd := exec.Command("sh", "-c", "read x", "serve", "-c", cfg)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Wait() })
		want[cmd.Process.Pid] = cfg
	}
	found := 0
	for _, p := range serveProcs() {
		if cfg, ok := want[p.pid]; ok {
			if p.config != cfg {
				t.Errorf("pid %d: config %q, want %q", p.pid, p.config, cfg)
			}
			found++
		}
	}
	if found != n {
		t.Errorf("serveProcs found %d of the %d serve processes running", found, n)
	}
}
