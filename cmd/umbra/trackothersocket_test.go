package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-5: umbra -c FILE track asks the daemon on FILE's admin socket
// where it writes its tracking log and searches that log when it differs
// from FILE's — only if the daemon there runs FILE (its status names its configuration
// file). Two configurations naming one admin socket (blue/green
// instances, one running at a time; a test instance copied from the
// production file): track -c green.yaml, green stopped, searched the
// running blue daemon's log, and said green's tracking.path was "not in
// force yet (a restart applies it)".
func TestOPS5TrackWithConfigDoesNotTrustAnotherDaemonsSocket(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sock := filepath.Join(dir, "shared-admin.sock")
	blue := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(blue)
	os.WriteFile(blue, []byte(strings.Replace(string(b), "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: "+sock+"\n", 1)), 0o600)
	d := startUmbra(t, blue, listen)
	d.dumpLogIfFailed()
	if acked := sendMany(listen, "blue-only", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("%d of 1 acknowledged", len(acked))
	}
	waitCond(t, "the receive event", 30*time.Second, func() bool {
		out, _ := cli(t, blue, "track", "--event", "receive")
		return strings.Contains(out, "receive")
	})

	// green: another instance's file (its own data directory and
	// tracking log), not running, naming the same admin socket.
	gdir := t.TempDir()
	green := relayConfig(t, gdir, freeAddr(t, "127.0.0.1"), sinkAddr)
	g, _ := os.ReadFile(green)
	os.WriteFile(green, []byte(strings.Replace(string(g), "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: "+sock+"\n", 1)), 0o600)
	os.MkdirAll(filepath.Join(gdir, "data"), 0o700)

	out, code := cliCombined(t, green, "track", "--event", "receive")
	if strings.Contains(out, "blue-only") || strings.Contains(out, "not in force yet") {
		t.Errorf("track -c %s (a file the daemon on %s does not run): exit %d\n%s\nwant %s's own tracking log searched, not the other daemon's, and no claim that its setting awaits a restart",
			green, sock, code, out, green)
	}
}
