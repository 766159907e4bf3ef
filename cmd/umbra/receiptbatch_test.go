package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// sendReplies sends n messages over sessions concurrent sessions and
// returns the reply text of each acknowledged one by subject; onAck is
// called with the count of acknowledged messages after each 250.
func sendReplies(addr, prefix string, n, sessions int, onAck func(int)) (acked map[string]string, failed []string) {
	var mu sync.Mutex
	acked = map[string]string{}
	eachSubject(prefix, n, sessions, func(subj string) {
		text, err := sendOne(addr, subj)
		mu.Lock()
		if err != nil {
			failed = append(failed, subj+": "+err.Error())
			mu.Unlock()
			return
		}
		acked[subj] = text
		k := len(acked)
		mu.Unlock()
		if onAck != nil {
			onAck(k)
		}
	})
	return acked, failed
}

func sendOne(addr, subj string) (string, error) {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		return "", err
	}
	if err := c.Rcpt("b@remote.example", nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "Subject: %s\r\n\r\n%s\r\n", subj, strings.Repeat("batch body line\r\n", 50))
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	c.Quit()
	return resp.StatusText, nil
}

var batchLine = regexp.MustCompile(`shadow copy batch kept.* copies=(\d+)`)

// largestBatch is the most copies hub-b's log shows kept in one batch.
func largestBatch(t *testing.T, logPath string) int {
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, m := range batchLine.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[1])
		most = max(most, n)
	}
	return most
}

// SR-17, version 6: copies of concurrent senders go to the shadow server
// in batches (several copies in one push), each kept there as a copy of
// its own; once hub-a delivered them, hub-b's discards remove every one
// and nothing arrives twice.
func TestShadowOnReceiptBatchKeptThenDiscarded(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	editConfig(t, cfgB, `metrics_listen: ""}`, `metrics_listen: "", log_level: debug}`)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the next hop is down: the copies stay
	acked, failed := sendReplies(a, "batch", 60, 20, nil)
	if len(failed) > 0 || len(acked) != 60 {
		ha.dumpLog()
		t.Fatalf("%d acknowledged, failed: %v", len(acked), failed)
	}
	for subj, text := range acked {
		if !strings.Contains(text, "shadow copy on hub-b") {
			t.Fatalf("%s: reply %q, want a shadow copy on hub-b", subj, text)
		}
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the 60 copies", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 60 })
	if n := largestBatch(t, hb.log); n < 2 {
		hb.dumpLog()
		t.Fatalf("largest batch %d copies: 20 concurrent senders made no batch", n)
	} else {
		t.Logf("largest batch: %d copies", n)
	}
	sink := startRecorder(t, sinkAddr)
	var subjects []string
	for s := range acked {
		subjects = append(subjects, s)
	}
	waitArrived(t, sink, subjects, ha)
	waitCond(t, "hub-b to drop its copies", 30e9, func() bool { return len(p.queued(t, cfgB)) == 0 })
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// SR-17, version 6: hub-b is killed (kill -9) while 20 senders' copies
// go to it in batches. Every sender gets an answer — 250 with the copy
// on hub-b (acknowledged by hub-b before it died), 250 held by hub-a
// only or with its copy unconfirmed (its batch, and its second try
// alone, failed), or 250 saying the
// message left hub-a before its copy gave up (delivered meanwhile) — and every
// acknowledged message is delivered once.
func TestShadowOnReceiptPeerKilledMidBatch(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrgReject(t, "prefer-remote", false)
	sink := startRecorder(t, sinkAddr)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	var once sync.Once
	acked, failed := sendReplies(a, "killed", 80, 20, func(k int) {
		if k >= 15 {
			once.Do(hb.kill)
		}
	})
	if len(failed) > 0 || len(acked) != 80 {
		ha.dumpLog()
		t.Fatalf("%d of 80 acknowledged, failed: %v", len(acked), failed)
	}
	copied, single, left := 0, 0, 0
	for subj, text := range acked {
		switch {
		case strings.Contains(text, "shadow copy on hub-b"):
			copied++
		case strings.Contains(text, "no shadow copy"), strings.Contains(text, "shadow copy unconfirmed: one may exist on hub-b"):
			single++ // held by hub-a (hub-b may hold a copy when its batch was cut after its data)
		case strings.Contains(text, "left this server before its shadow copy was made"), strings.Contains(text, "left this server before its shadow copy was confirmed"):
			left++ // delivered to the sink (up from the start) before its copy gave up (hub-b may hold it when its push was cut after its data)
		default:
			t.Fatalf("%s: reply %q", subj, text)
		}
	}
	if copied == 0 || single+left == 0 {
		ha.dumpLog()
		t.Fatalf("%d copied, %d held by hub-a only, %d left before the copy: hub-b's death made no difference", copied, single, left)
	}
	var subjects []string
	for s := range acked {
		subjects = append(subjects, s)
	}
	waitArrived(t, sink, subjects, ha)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// versionFive is the last main whose shadow verbs are version 5 (copies
// on receipt one at a time).
const versionFive = "abf1935"

// SR-17 across versions: a shadow server of version 5 keeps getting
// copies one by one (no batch is offered to it) from concurrent senders.
func TestShadowOnReceiptVersion5Peer(t *testing.T) {
	bin := buildRelease(t, versionFive)
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "remote-only")
	withBinary(bin, func() { startUmbra(t, cfgB, b) })
	ha := startUmbra(t, cfgA, a)
	acked, failed := sendReplies(a, "v5", 30, 10, nil)
	if len(failed) > 0 || len(acked) != 30 {
		ha.dumpLog()
		t.Fatalf("%d acknowledged, failed: %v", len(acked), failed)
	}
	for subj, text := range acked {
		if !strings.Contains(text, "shadow copy on hub-b") {
			ha.dumpLog()
			t.Fatalf("%s: reply %q, want a shadow copy on hub-b", subj, text)
		}
	}
	p := &shadowPair{}
	var n int
	withBinary(bin, func() {
		waitCond(t, "hub-b to hold the 30 copies", 30e9, func() bool { n, _ = p.held(t, cfgB, "hub-a"); return n == 30 })
	})
}
