package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// OPS-3: serveProcs, the scan that finds the `umbra serve` processes a
// command's answer names (the daemon started with the command's
// configuration file, "umbra runs, but not at this admin socket" and
// how many more), stopped after 64: on a host with more, the daemon
// that holds the command's data directory could be left out, unsaid.
// The process table here is a copy (procDir) listing 70 serve
// processes, so that the host's own (and other tests') are not
// disturbed.
func TestOPS3ServeProcsHasNoCap(t *testing.T) {
	const n = 70
	proc := t.TempDir()
	saved := procDir
	procDir = proc
	defer func() { procDir = saved }()
	want := map[int]string{}
	for i := range n {
		pid := 4000000 + i
		cfg := fmt.Sprintf("/etc/umbra/hub%d.yaml", i)
		d := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cmdline"), []byte("/usr/bin/umbra\x00-c\x00"+cfg+"\x00serve\x00"), 0o600); err != nil {
			t.Fatal(err)
		}
		want[pid] = cfg
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
