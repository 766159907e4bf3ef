package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS: the tracking log on a file system with no space left. Mail is
// received, acknowledged and delivered as ever (the message path never
// fails for the tracking log); the events that could not be written
// are logged as lost, in one line for the episode so far; when space
// returns the next events are written again, and that is logged.
func TestTrackingLogFullDiskLosesNoMail(t *testing.T) {
	dir := t.TempDir()
	trk := filepath.Join(dir, "trk")
	os.MkdirAll(trk, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", trk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", trk).Run() })
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte(fmt.Sprintf("tracking:\n  path: %s\n", filepath.Join(trk, "tracking.log")))...), 0o600)
	sink := startRecorder(t, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	// Fill the file system.
	f, err := os.Create(filepath.Join(trk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for _, n := range []int{4096, 512, 1} {
		for range 1 << 10 { // bounded: the mount holds 256 KiB
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	f.Close()

	var acked []string
	for i := range 10 {
		subj := fmt.Sprintf("full%d", i)
		if ok, err := send(listen, subj); !ok || err != nil {
			t.Fatalf("%s not acknowledged with the tracking log's disk full: %v", subj, err)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, d)
	waitLogCount(t, d, "tracking log events lost", 1)

	os.Remove(filepath.Join(trk, "filler")) // space returns
	if ok, err := send(listen, "after"); !ok || err != nil {
		t.Fatalf("not acknowledged: %v", err)
	}
	waitArrived(t, sink, append(acked, "after"), d)
	waitLogCount(t, d, "tracking log written again", 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(trk, "tracking.log"))
		if strings.Contains(string(b), `"event":"receive"`) && strings.Contains(string(b), `"event":"send"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event written after space returned:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(d.log)
	if n := strings.Count(string(log), "tracking log events lost"); n != 1 {
		t.Errorf("the lost events logged %d times in one episode of under a minute, want once", n)
	}

	// ops48 F5: track over the period says the events lost, never an
	// empty answer that reads like "nothing happened": a gap line in
	// the log, a note on stderr, exit 5, and the gap in --json.
	out, errOut, code := umbraIn(t, dir, nil, "-c", cfg, "track", "--json", "--message-id", "no-such-message", "--since", "1h")
	if code != exitSkipped || !strings.Contains(errOut, "tracking events from") || !strings.Contains(errOut, "were not written") ||
		!strings.Contains(out, `"event": "lost"`) || !strings.Contains(out, `"lost_from"`) {
		t.Errorf("track over the lost period: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, the gap on stderr and in --json", code, out, errOut, exitSkipped)
	}
}
