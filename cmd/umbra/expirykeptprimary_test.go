package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-11 (shadow31 S3): hub-b holds a copy of a message hub-a still
// holds (the sink is down); hub-a, restarted with shadow redundancy off,
// answers and refuses hub-b's sessions with its database digest: alive,
// the copy's primary. hub-b is stopped, the copy's arrival put back past
// message_expiration and the hour after it, and hub-b started again:
// its expiry pass at the start took the copy over and delivered it, a
// second time once hub-a delivers the original. hub-a owns that
// message's expiry: the copy is kept (the refusal is judged by the
// heartbeats after the start; before them nothing is taken over at
// expiry), and the message arrives once. The test waits, bounded, for
// hub-b's third refused heartbeat after the restart; it asserts no
// duration.
func TestSR6ExpiredCopyOfLiveRefusingPrimaryNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	o, _ := certReceiptHubsAt(t, "127.0.0.125", "127.0.0.126", "remote-only", true)
	ha, hb := o.start(t)
	o.sendCopied(t, "Subject: kept-1\r\n\r\nbody")
	ha.kill()
	editConfig(t, o.cfgA, "shadow_heartbeat_retry_count: 3,", "shadow_redundancy_enabled: false, shadow_heartbeat_retry_count: 3,")
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	hb.kill()
	if n := backdateShadowCopies(t, filepath.Join(o.dataB, "queue.db"), 30*24*time.Hour); n != 1 {
		t.Fatalf("%d copies on hub-b, want 1", n)
	}
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, _ := os.ReadFile(hb.log)
		log := string(b)
		if strings.Contains(log, "expired: taken over") || strings.Contains(log, "took over shadow copies") {
			hb.dumpLog()
			t.Fatal("hub-b took over the expired copy while hub-a, which answers and refuses it with the copy's database, holds the message")
		}
		if strings.Count(log, "primary refused the heartbeat") >= 3 && strings.Contains(log, "expired shadow copies kept, not taken over") {
			break
		}
		if time.Now().After(deadline) {
			hb.dumpLog()
			t.Fatal("hub-b did not say it keeps the expired copy and see hub-a refuse three heartbeats")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"kept-1"}, ha)
	time.Sleep(3 * time.Second) // a second delivery, if any, comes now
	if n := sink.counts()["kept-1"]; n != 1 {
		t.Fatalf("kept-1 arrived %d times at the sink", n)
	}
}
