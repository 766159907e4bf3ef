package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt45 F1: a restart on a full disk with a database that holds mail
// comes up and delivers its queue (README, Running under systemd, A
// full disk) also after umbra db compact or umbra db restore, which
// leave a file with no free page inside it: every commit must grow the
// file, and the full disk refuses that. The claim of due mail is what
// starts the deliveries that free room, so it may give up the space
// reserve (space.reserve); the start's own commit of a database that
// holds mail may too. Before: after compact nothing was delivered while
// the disk was full (every claim failed, the reserve never used); after
// restore the start was refused as a first start on a full disk.
func TestOPSRestartOnFullDiskAfterCompactDelivers(t *testing.T) {
	d, cfg, sink, acked := fullDiskAfter(t, "compact", 15000, "")
	deliveredOnce(t, d, cfg, sink, acked)
}

func TestOPSRestartOnFullDiskAfterRestoreDelivers(t *testing.T) {
	d, cfg, sink, acked := fullDiskAfter(t, "restore", 15100, "")
	deliveredOnce(t, d, cfg, sink, acked)
}

// rt45 F1, its listing: where even the reserve cannot help (none kept,
// transport.space_reserve: 0) the claims fail for as long as the disk
// stays full, and queue list and message list showed the mail ready
// and due now with nothing saying why it stayed: they say that claims
// fail, and the error. Before: no word of it (the log alone said it).
func TestOPSListingsSayClaimsFail(t *testing.T) {
	d, cfg, _, _ := fullDiskAfter(t, "compact", 15200, "  space_reserve: 0\n")
	waitLogCount(t, d, "claiming due messages failed", 1)
	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}, {"--json", "queue", "list"}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != 0 || !strings.Contains(errOut, "claiming due messages for delivery fails since") ||
			!strings.Contains(errOut, "no space left on device") {
			t.Errorf("umbra %s while every claim fails: exit %d, stderr %q\nwant it to say that claims fail, and why", strings.Join(args, " "), code, errOut)
		}
	}
	// Room again: the claims commit, and the listings stop saying so.
	os.Remove(filepath.Join(filepath.Dir(cfg), "data", "filler"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errOut := cliErr(t, cfg, "queue", "list")
		if !strings.Contains(errOut, "claiming due messages") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with room again queue list still says %q", errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fullDiskAfter queues 30 messages while the next hop is down, stops
// umbra, runs db compact or db backup and restore, fills the disk and
// starts umbra again, with its next hop listening (sink).
func fullDiskAfter(t *testing.T, how string, port int, transport string) (*daemon, string, *recorder, []string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs in CI: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	listen := addrInRange(t, "127.0.0.155", port, 50)
	sinkAddr := addrInRange(t, "127.0.0.155", port+50, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr) // nothing listens there yet: the mail waits
	if transport != "" {
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(b), "transport:\n", "transport:\n"+transport, 1)), 0o600)
	}
	d := startUmbra(t, cfg, listen)
	var acked []string
	for i := range 30 {
		subj := fmt.Sprintf("%s-%d", how, i)
		if reply := submitReply(t, listen, subj, 3000); !strings.HasPrefix(reply, "250") {
			d.dumpLog()
			t.Fatalf("%s: %q before the disk was full", subj, reply)
		}
		acked = append(acked, subj)
	}
	backup := filepath.Join(dir, "b.db")
	if how == "restore" {
		if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
			t.Fatalf("db backup: exit %d %s", code, out)
		}
	}
	stopDaemon(t, d)
	switch how {
	case "compact":
		if out, code := cli(t, cfg, "db", "compact"); code != 0 {
			t.Fatalf("db compact: exit %d %s", code, out)
		}
	case "restore":
		if out, code := cli(t, cfg, "db", "restore", backup); code != 0 {
			t.Fatalf("db restore: exit %d %s", code, out)
		}
		matches, _ := filepath.Glob(filepath.Join(data, "queue.db.replaced-*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
	fillDisk(t, data)
	d = startUmbra(t, cfg, listen) // fails the test if the start is refused
	d.dumpLogIfFailed()
	return d, cfg, startRecorder(t, sinkAddr), acked
}

// deliveredOnce waits for acked at sink, each once, and for the log's
// word that the space reserve was given up.
func deliveredOnce(t *testing.T, d *daemon, cfg string, sink *recorder, acked []string) {
	waitArrived(t, sink, acked, d)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times, want once", s, n)
		}
	}
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "the space reserve is given up") {
		t.Errorf("the disk was full and the file had no free page, yet the space reserve was not given up")
	}
}
