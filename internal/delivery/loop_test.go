package delivery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

func withHopLimit(t *testing.T, d *Deliverer, max int) {
	t.Helper()
	cfg := d.st.Load().cfg
	cfg.MaxHopCount = max
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
}

func received(n int) string {
	return strings.Repeat("Received: from a by b; Mon, 30 Nov 2026 12:00:00 +0000\r\n", n)
}

// A message the next hop would take with more Received: headers than
// max_hop_count — the next hop adds its own, as umbra does — is not
// relayed: it fails with 5.4.6 (and so gets a DSN). So a relay never
// hands an umbra hop with the same limit what it must refuse (rt44 M1).
func TestHopLimitBeforeRelay(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &fakeDNS{hosts: map[string][]string{"example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	withHopLimit(t, d, 5)
	m := message("x@example.net")
	res := d.Deliver(context.Background(), m, []byte(received(5)+"Subject: loop\r\n\r\nhi\r\n"), all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "554 5.4.6") {
		t.Fatalf("results: %+v", res)
	}
	if len(s.received()) != 0 {
		t.Fatal("the looping message was relayed")
	}
	res = d.Deliver(context.Background(), m, []byte(received(4)+"Subject: ok\r\n\r\nhi\r\n"), all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK || len(s.received()) != 1 {
		t.Fatalf("a message within the limit: %+v", res)
	}
}

const arriving = "Received: from a by b; Mon, 30 Nov 2026 12:00:00 +0000\r\n" +
	"Return-Path: <forged@evil.test>\r\n" +
	"Delivered-To: someone@elsewhere.test\r\n" +
	"Subject: hi\r\n" +
	"delivered-to :\r\n\tcarol@example.test\r\n" +
	"\r\n" +
	"Delivered-To: body text is not a header\r\n"

// At final delivery Return-Path and Delivered-To are umbra's own; a
// Delivered-To that already names the recipient is a loop (5.4.6).
func TestMaildirTraceHeadersAndLoop(t *testing.T) {
	root := t.TempDir()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	m := message("Alice@example.test", "Carol@Example.test")
	got := byRcpt(m, d.Deliver(context.Background(), m, []byte(arriving), all(m)))
	if r := got["Carol@Example.test"]; r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "554 5.4.6") {
		t.Errorf("looping recipient: %+v", r)
	}
	if r := got["Alice@example.test"]; r.Outcome != queue.DeliveredOK {
		t.Fatalf("alice: %+v", r)
	}
	if files, _ := filepath.Glob(filepath.Join(root, "example.test", "carol", "new", "*")); len(files) != 0 {
		t.Errorf("the looping copy was delivered: %v", files)
	}
	files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("alice: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	want := "Return-Path: <sender@example.org>\r\nDelivered-To: Alice@example.test\r\n" +
		"Received: from a by b; Mon, 30 Nov 2026 12:00:00 +0000\r\nSubject: hi\r\n\r\nDelivered-To: body text is not a header\r\n"
	if string(b) != want {
		t.Errorf("maildir file:\n%q\nwant\n%q", b, want)
	}
}

// LMTP: arriving Return-Path and Delivered-To never reach the mailbox
// server (it writes its own from the envelope, per recipient); a
// recipient named by an arriving Delivered-To is a loop.
func TestLMTPTraceHeadersAndLoop(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", true, nil)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
	m := message("alice@example.test", "bob@example.test", "carol@example.test")
	got := byRcpt(m, d.Deliver(context.Background(), m, []byte(arriving), all(m)))
	if r := got["carol@example.test"]; r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "554 5.4.6") {
		t.Errorf("looping recipient: %+v", r)
	}
	// The loop is umbra's decision, not the LMTP server's reply (RFC
	// 3464 §2.3.6: no Diagnostic-Code, which quotes a server's reply;
	// the text part says it).
	for i, rc := range m.Rcpts {
		if r := got[rc.Addr]; rc.Addr == "carol@example.test" {
			m.Rcpts[i].Queue, m.Rcpts[i].NextHop, m.Rcpts[i].LastReply = r.Queue, r.NextHop, r.Reply
			dsn := string(queue.BuildDSN("umbra.test", m, []byte(arriving), queue.NotifyFailure, []int{i}, time.Now(), time.Now(), 9, 0))
			if strings.Contains(dsn, "Diagnostic-Code:") || !strings.Contains(dsn, ": 554 5.4.6") || strings.Contains(dsn, "Remote-MTA") {
				t.Errorf("the loop's DSN (next hop %q):\n%s", r.NextHop, dsn)
			}
		}
	}
	for _, rc := range []string{"alice@example.test", "bob@example.test"} {
		if got[rc].Outcome != queue.DeliveredOK {
			t.Errorf("%s: %+v", rc, got[rc])
		}
	}
	sunk := s.received()
	if len(sunk) != 1 || len(sunk[0].rcpts) != 2 {
		t.Fatalf("LMTP transactions: %+v", sunk)
	}
	want := "Received: from a by b; Mon, 30 Nov 2026 12:00:00 +0000\r\nSubject: hi\r\n\r\nDelivered-To: body text is not a header\r\n"
	if sunk[0].body != want {
		t.Errorf("LMTP body:\n%q\nwant\n%q", sunk[0].body, want)
	}
}
