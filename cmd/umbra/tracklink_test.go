package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OPS-5: track -c FILE whose tracking.path, edited since the start, is
// a symbolic link to the log the daemon writes. samePlace calls
// it the log in force; track must then search the daemon's path, not
// FILE's spelling, which Search (O_NOFOLLOW) refuses: else the daemon's
// log is not read at all (exit 5, no event).
func TestOPS5TrackConfigFinalLinkToDaemonsLogIsSearched(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := loopAddr(t, "127.0.0.206"), loopAddr(t, "127.0.0.207")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if acked := sendMany(listen, "tracked", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("%d of 1 acknowledged", len(acked))
	}
	waitCond(t, "the receive event", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--event", "receive")
		return strings.Contains(out, "receive")
	})
	// The daemon's log, named by a link at the log's own name.
	tlink := filepath.Join(dir, "tracking-link.log")
	if err := os.Symlink(filepath.Join(dir, "data", "tracking.log"), tlink); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "mailbox:\n", "tracking: {path: "+tlink+"}\nmailbox:\n")
	out, code := cliCombined(t, cfg, "track", "--event", "receive")
	if code != 0 || !strings.Contains(out, "receive") {
		t.Errorf("track --config whose tracking.path is a link to the daemon's log: exit %d\n%s\nwant the daemon's log searched (its receive event), exit 0", code, out)
	}
}

// loopAddr is a free address on ip at a port in 11700-11999.
func loopAddr(t testing.TB, ip string) string {
	t.Helper()
	for p := 11700; p < 12000; p++ {
		addr := net.JoinHostPort(ip, strconv.Itoa(p))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port in 11700-11999 on %s", ip)
	return ""
}
