package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	fullDiskAfter(t, "compact", 45000)
}

func TestOPSRestartOnFullDiskAfterRestoreDelivers(t *testing.T) {
	fullDiskAfter(t, "restore", 45100)
}

func fullDiskAfter(t *testing.T, how string, port int) {
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
	sink := startRecorder(t, sinkAddr)
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
