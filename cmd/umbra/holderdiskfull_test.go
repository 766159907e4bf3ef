package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// rt42 F2: a shadow server whose disk is full still takes over the
// copies of a primary that died for good, and delivers them (SR-6,
// SR-17): delivery is what frees its room. hub-b, the holder, keeps its
// data_dir on an 8 MiB tmpfs; hub-a copies on receipt to it while the
// next hop is down; hub-b's disk is filled to the last byte, and hub-a
// is killed (kill -9) with its data_dir gone. Before, the takeover's
// commit failed for want of room at every heartbeat ("recording a
// failed heartbeat failed … no space left on device", twice a second),
// shadow list said "takeover due" at a time already past, and nothing
// was delivered for as long as the disk stayed full. The space reserve
// (a file umbra keeps in data_dir) is given up for that commit.
func TestSR6HolderWithFullDiskTakesOver(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	os.MkdirAll(o.dataB, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", o.dataB).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs in CI: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", o.dataB).Run() })
	hb := startUmbra(t, o.cfgB, o.b)
	ha := startUmbra(t, o.cfgA, o.a)
	hb.dumpLogIfFailed()
	p := &shadowPair{}
	acked := sendCopiesOnB(t, p, o.a, o.cfgB, "holderfull", 40)

	fillDisk(t, o.dataB)
	ha.kill()
	os.RemoveAll(o.dataA)

	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, acked, hb)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times, want once", s, n)
		}
	}
	out, _ := os.ReadFile(hb.log)
	if !strings.Contains(string(out), "space reserve") {
		t.Errorf("hub-b did not log the use of its space reserve")
	}
}

// rt42 F2, the variant: the copies themselves filled the holder's disk
// (4 MiB) before its back pressure reacted, and 158 of 300 copies could
// never be delivered: their delivery needs the takeover's commit. With
// the space reserve whole, copies on receipt meet the full disk first
// (the primary's 250 then names no copy on hub-b), and the takeover of
// every copy made goes through when the primary dies.
func TestSR6HolderFilledByCopiesTakesOver(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	os.MkdirAll(o.dataB, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", o.dataB).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs in CI: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", o.dataB).Run() })
	hb := startUmbra(t, o.cfgB, o.b)
	ha := startUmbra(t, o.cfgA, o.a)
	hb.dumpLogIfFailed()
	big := strings.Repeat(strings.Repeat("0123456789abcdef", 4)+"\r\n", 300) // 20 KiB
	var copied []string
	full := false
	for i := 0; i < 400 && !full; i++ { // bounded: 400 × 20 KiB is twice the mount
		subj := fmt.Sprintf("copyfull-%d", i)
		reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: "+subj+"\r\n\r\n"+big)
		switch {
		case strings.HasPrefix(reply, "250") && strings.Contains(reply, "shadow copy on hub-b"):
			copied = append(copied, subj)
		default:
			full = true // hub-b refused the copy: its disk is full
			t.Logf("after %d copies on hub-b: %q", len(copied), reply)
		}
	}
	if !full || len(copied) == 0 {
		t.Fatalf("hub-b's disk never refused a copy (%d copies)", len(copied))
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == len(copied) })
	ha.kill()
	os.RemoveAll(o.dataA)

	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, copied, hb)
	counts := sink.counts()
	for _, s := range copied {
		if counts[s] != 1 {
			t.Errorf("%s arrived %d times, want once", s, counts[s])
		}
	}
}
