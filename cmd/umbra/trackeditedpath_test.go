package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-4 (rt28c F3): umbra -c FILE track, after FILE's tracking.path
// was edited but not applied (it needs a restart), searched the new
// path and said "no message tracking log at NEW …; name … its
// configuration with --config" although --config was given and the
// daemon on FILE's admin socket answers. The daemon is asked where it
// writes, that log searched, and stderr says FILE's setting differs.
func TestTrackWithConfigAsksDaemonForEditedTrackingPath(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.164"), freeAddr(t, "127.0.0.164")
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
	newPath := filepath.Join(dir, "elsewhere", "tracking.log")
	os.MkdirAll(filepath.Dir(newPath), 0o755)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "mailbox:\n", "tracking: {path: "+newPath+"}\nmailbox:\n", 1)), 0o600)
	out, code := cliCombined(t, cfg, "track", "--event", "receive")
	if code != 0 || !strings.Contains(out, "receive") || strings.Contains(out, "no message tracking log") || !strings.Contains(out, newPath) {
		t.Errorf("track --config after tracking.path was edited (not applied): exit %d\n%s\nwant the events of the log the daemon writes, and a note that %s is not yet in force", code, out, newPath)
	}
}
