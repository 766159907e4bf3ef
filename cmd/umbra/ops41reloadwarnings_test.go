package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OPS-1, OPS-3: the daemon logs the warnings config check prints for
// its file — one list — at its start and at every reload that changes
// that list; a reload that leaves the list as it was does not repeat it
// (rt41 F4: a reload logged almost none of them, and the start only
// three kinds).
func TestOPSReloadLogsConfigCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t, "127.0.0.168")
	cfg := filepath.Join(dir, "umbra.yaml")
	base := fmt.Sprintf(`server: {name: hub.ops41.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: ops41.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - {name: in, bindings: [%q], remote_ranges: ["127.0.0.0/8"], permissions: {anonymous: [submit]}}
`, filepath.Join(dir, "data"), addr)
	// Two send connectors whose MX limits are inert (they have smart
	// hosts): config check warns of each.
	warned := base + `send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: ["127.0.0.168:10499"], mx_address_limit: 3}
  - {name: other, address_spaces: [{domain: "other.test", cost: 1}], smart_hosts: ["127.0.0.168:10498"], mx_session_limit: 7}
`
	write := func(text string) {
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		hostMarksOff(t, cfg)
	}
	write(warned)
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	var warnings []string // as the daemon's log writes each (a quoted value)
	for _, l := range strings.Split(string(out), "\n") {
		if _, w, ok := strings.Cut(l, "warning: "); ok {
			q := strconv.Quote(w)
			warnings = append(warnings, q[1:len(q)-1])
		}
	}
	if len(warnings) != 2 {
		t.Fatalf("config check printed %d warnings, want 2:\n%s", len(warnings), out)
	}
	logText := func() string { b, _ := os.ReadFile(cfg + ".log"); return string(b) }
	counts := func() []int {
		l := logText()
		var n []int
		for _, w := range warnings {
			n = append(n, strings.Count(l, w))
		}
		return n
	}
	want := func(step string, n int) {
		t.Helper()
		for i, c := range counts() {
			if c != n {
				t.Errorf("%s: the log has config check's warning %q %d times, want %d\n%s", step, warnings[i], c, n, logText())
			}
		}
	}
	var hub *daemon
	reloaded := func() int { return strings.Count(logText(), "configuration reloaded") }
	hup := func(step string) {
		t.Helper()
		before := reloaded()
		hub.hup()
		waitCond(t, step+": the reload in the log", 20*time.Second, func() bool { return reloaded() > before })
	}
	hub = startUmbra(t, cfg, addr)
	want("at the start", 1)
	hup("a reload of the same file")
	want("a reload of the same file", 1)
	if !strings.Contains(logText(), "configuration warnings unchanged") {
		t.Errorf("a reload of the same file does not say its warnings stand:\n%s", logText())
	}
	write(base)
	hup("a reload without the connectors")
	want("a reload without the connectors", 1)
	write(warned)
	hup("a reload with them again")
	want("a reload with them again", 2)
}
