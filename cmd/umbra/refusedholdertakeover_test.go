package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-17 (rt30a F1): hub-b's own sessions come from an address the
// topology does not give it (server.source_address 127.0.0.132), so
// hub-a refuses its XSHADOW (550 5.7.1 … does not match the connection's
// address) — and still makes one copy on receipt a minute there (or the
// first ones, before it saw hub-b's sessions). hub-b's heartbeats to
// hub-a are refused by hub-a itself, alive, which delivers the message:
// a refusal, never a failure, and hub-b must not take the copy over
// while hub-a runs (it did, three heartbeats later, and sent it a second
// time: hub-a advertised its database digest only to sessions whose
// server claim it accepted). The sink starts only after: hub-a keeps the
// message meanwhile, so no discard owed to hub-b ends its copy
// (TestSR15RefusedHolderGetsItsDiscardPushed). The test waits, bounded,
// for hub-b's fifth refused heartbeat (retry count 3); it asserts no
// duration.
func TestSR6HolderRefusedByLivePrimaryDoesNotTakeOver(t *testing.T) {
	t.Parallel()
	o, _ := certReceiptHubsAt(t, "127.0.0.130", "127.0.0.131", "remote-only", true)
	editConfig(t, o.cfgB, `metrics_listen: ""}`, `metrics_listen: "", source_address: 127.0.0.132}`)
	ha, hb := o.start(t)
	copied := ""
	for i := 0; i < 30 && copied == ""; i++ { // 30 × 5 s at most: the first copy, or the one a minute
		subject := fmt.Sprintf("m-%d", i)
		r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subject+"\r\n\r\nbody")
		if strings.HasPrefix(r, "250") && strings.Contains(r, "shadow copy on hub-b") {
			copied = subject
			break
		}
		time.Sleep(5 * time.Second)
	}
	if copied == "" {
		t.Fatal("hub-a never made a copy on receipt on hub-b")
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, _ := os.ReadFile(hb.log)
		log := string(b)
		if strings.Contains(log, "took over shadow copies") {
			hb.dumpLog()
			t.Fatalf("hub-b took over the copy of %q while hub-a, which refuses its sessions, runs and delivered it", copied)
		}
		if strings.Count(log, "primary refused the heartbeat") >= 5 {
			break
		}
		if time.Now().After(deadline) {
			hb.dumpLog()
			t.Fatal("hub-b's heartbeats were not judged refused by hub-a five times")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := shadowState(t, o.cfgB, "hub-a"); st != "refused" {
		out, _ := cli(t, o.cfgB, "shadow", "list")
		t.Fatalf("hub-b's shadow list gives hub-a %q, want refused:\n%s", st, out)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{copied}, ha)
	if n := sink.counts()[copied]; n != 1 {
		t.Fatalf("%q arrived %d times at the sink", copied, n)
	}
}

// SR-15, SR-17 (rt30a F1, the copy itself): the copy on receipt hub-a
// makes on hub-b, whose sessions it refuses, could never be discarded —
// hub-b's discard queries are refused — so hub-b kept it until its
// expiry and took it over then, while hub-a had delivered it long
// before: a second delivery, two days late. hub-a hands the discards it
// owes such a holder over a session of its own (XDISCARD, as at a stop),
// which hub-b lets in: the copy goes once hub-a delivered the message.
// The test waits, bounded, for hub-b to hold nothing of hub-a's; it
// asserts no duration.
func TestSR15RefusedHolderGetsItsDiscardPushed(t *testing.T) {
	o, _ := certReceiptHubsAt(t, "127.0.0.137", "127.0.0.138", "remote-only", true)
	editConfig(t, o.cfgB, `metrics_listen: ""}`, `metrics_listen: "", source_address: 127.0.0.139}`)
	sink := startRecorder(t, o.sink)
	ha, hb := o.start(t)
	copied := ""
	for i := 0; i < 30 && copied == ""; i++ { // 30 × 5 s at most: the first copy, or the one a minute
		subject := fmt.Sprintf("m-%d", i)
		r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subject+"\r\n\r\nbody")
		if strings.HasPrefix(r, "250") && strings.Contains(r, "shadow copy on hub-b") {
			copied = subject
			break
		}
		time.Sleep(5 * time.Second)
	}
	if copied == "" {
		t.Fatal("hub-a never made a copy on receipt on hub-b")
	}
	waitArrived(t, sink, []string{copied}, ha)
	waitCond(t, "hub-b, whose sessions hub-a refuses, to get the discard of its copy", 60*time.Second, func() bool {
		p := &shadowPair{}
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	b, _ := os.ReadFile(hb.log)
	if strings.Contains(string(b), "took over shadow copies") {
		t.Fatal("hub-b took the copy over")
	}
	// hub-b applies the discard before hub-a has its answer and writes
	// the line: wait for it.
	waitLogCount(t, ha, "discard notifications handed to a shadow server whose sessions this server refuses", 1)
}
