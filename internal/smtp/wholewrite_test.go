package smtp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// SR-17 (rt44 shadowrcpt3 F2): a push of a copy on receipt whose one
// write carried the whole copy — MAIL, every RCPT and BDAT … LAST with
// the data, alone (pushOneTrip) or as a batch (PushBatchMarked) — and
// whose connection was lost before any reply says it was lost after the
// whole copy was written, never "reply to MAIL: EOF": the README has a
// session lost at MAIL hold nothing, and this one may hold the copy (the
// decision is right, the words read like the other case). A reply lost
// after MAIL was answered names its command the same way. The hub reads
// the group's first line and closes (the cut of a proxy that forwarded
// the whole write and swallowed the replies).
func TestSR17CutAfterTheWholeWriteSaysSo(t *testing.T) {
	const want = "after the whole copy was written (MAIL, RCPT, BDAT LAST): "
	ehlo := []string{"XSHADOW 7", "8BITMIME", "PIPELINING", "CHUNKING"}
	open := func(t *testing.T, fault string) *Client {
		hub := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.185", 6900, 100), testsupport.HubScript{EHLO: ehlo, Fault: fault})
		nc, err := net.DialTimeout("tcp", hub.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub-a.test", TLS: TLSNone})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Shadow("hub-a"); err != nil {
			t.Fatal(err)
		}
		c.CommandTimeout, c.SubmissionTimeout = 10*time.Second, 10*time.Second
		return c
	}
	body := []byte("Subject: c\r\n\r\nbody\r\n")
	check := func(t *testing.T, c *Client, err error, first string) {
		t.Helper()
		if err == nil || isReply(err) {
			t.Fatalf("push: %v; want the connection lost", err)
		}
		if !c.DataSent() {
			t.Fatal("the copy's data not counted as sent: the test proves nothing")
		}
		if !strings.HasPrefix(err.Error(), first+want) || strings.Contains(err.Error(), "reply to MAIL") {
			t.Fatalf("push cut after its whole write: %q; want %q…", err, first+want)
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("push cut after its whole write: %q does not keep its cause (errors.Is io.EOF)", err)
		}
	}
	t.Run("one trip, no reply at all", func(t *testing.T) {
		c := open(t, testsupport.FaultMailEOF)
		if !c.canPushOneTrip() {
			t.Fatal("no one-trip push: the test proves nothing")
		}
		check(t, c, c.PushCopy(batchMsg("a@example.org", "b@example.net"), body, "dbA"), "no reply ")
	})
	t.Run("batch, no reply at all", func(t *testing.T) {
		c := open(t, testsupport.FaultMailEOF)
		rec, ok := c.CopyRecord(batchMsg("a@example.org", "b@example.net"), body)
		if !ok || !c.CanPushBatch() {
			t.Fatal("no batch: the test proves nothing")
		}
		_, err := c.PushBatchMarked([][]byte{rec}, "dbA", 1)
		check(t, c, err, "no reply ")
	})
	t.Run("one trip, the data's reply lost", func(t *testing.T) {
		c := open(t, testsupport.FaultDotEOF)
		check(t, c, c.PushCopy(batchMsg("a@example.org", "b@example.net"), body, "dbA"), "no reply to BDAT ")
	})
	t.Run("batch, the data's reply lost", func(t *testing.T) {
		c := open(t, testsupport.FaultDotEOF)
		rec, _ := c.CopyRecord(batchMsg("a@example.org", "b@example.net"), body)
		_, err := c.PushBatchMarked([][]byte{rec}, "dbA", 1)
		check(t, c, err, "no reply to BDAT ")
	})
}

// The sibling in delivery (rt44 shadowrcpt3 F2): a pipelined
// transaction's write is MAIL, every RCPT and DATA — never the body,
// which waits for the 354 — so a connection lost before the reply to
// MAIL is named so, "reply to MAIL: EOF", and no byte of the message
// was written: what a delivery defers with (451 4.4.2 HOP: reply to
// MAIL: EOF) is true, and keeps its words.
func TestSMTP1PipelinedCutAtMailSaysMail(t *testing.T) {
	hub := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.185", 6900, 100),
		testsupport.HubScript{EHLO: []string{"8BITMIME", "PIPELINING"}, Fault: testsupport.FaultMailEOF})
	nc, err := net.DialTimeout("tcp", hub.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub-a.test", TLS: TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !c.CanPipeline() {
		t.Fatal("no pipelining: the test proves nothing")
	}
	p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.net"}}, [][]byte{[]byte("Subject: d\r\n\r\nbody\r\n")}, false)
	if p.Err == nil || !strings.HasPrefix(p.Err.Error(), "reply to MAIL: ") {
		t.Fatalf("pipelined transaction cut at MAIL: %+v; want the reply to MAIL named", p)
	}
	if c.DataSent() {
		t.Fatal("a byte of the body counted as written before the 354")
	}
}
