package smtp

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// pieceReader gives b in pieces of the lengths in cut (cycled; 0 means 1).
type pieceReader struct {
	b   []byte
	cut []byte
	i   int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.cut) > 0 {
		n = int(r.cut[r.i%len(r.cut)]) + 1
		r.i++
	}
	n = copy(p, r.b[:min(n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

// FuzzStuffStream: the DATA payload streamed from a reader, whatever
// its pieces, is byte for byte what stuffChunks makes of the whole
// (stuffReader; FuzzStuffReader varies the chunk, this the reads).
func FuzzStuffStream(f *testing.F) {
	for _, s := range []string{"", "a", ".\r\n", "a\r\n.b\r\n..\r\n", "a\rb\nc\r", "x\r", "\r\n\r\n.", "a\n.\n"} {
		f.Add([]byte(s), []byte{0, 2}, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b, cut []byte, chunk uint8) {
		var want []byte
		stuffChunks(b, int(chunk)+1, func(p []byte) error { want = append(want, p...); return nil })
		var got []byte
		err := stuffReader(&pieceReader{b: b, cut: cut}, int(chunk)+1, func(p []byte) error { got = append(got, p...); return nil })
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: streamed %q (%v), whole %q", b, got, err, want)
		}
	})
}

// A spooled body pushed on receipt streams from its file: the peer keeps
// the message whole, and a file cut short fails the push instead of
// passing for the message.
func TestPushCopyBodySpooled(t *testing.T) {
	st, _ := spoolStore(t)
	peerQ := &copyQueue{}
	peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	head := "Received: from x\r\n by y; now\r\nSubject: c\r\n\r\n"
	rest := strings.Repeat("line of the body\r\n.dot line\r\n", 20000)
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	sp.Write([]byte("Subject: original\r\n\r\n" + rest))
	file, err := sp.Finish()
	if err != nil {
		t.Fatal(err)
	}
	body, err := file.WithHead([]byte(head), int64(len("Subject: original\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	push := func(b queue.Body) error {
		c, _ := logClient(t, peer.Addrs()[0].String())
		if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion < 3 {
			t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
		}
		m := &queue.Message{From: "a@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}
		return c.PushCopyBody(m, b, "dbA")
	}
	if err := push(body); err != nil {
		t.Fatalf("PushCopyBody: %v", err)
	}
	if len(peerQ.copies) != 1 || !bytes.HasSuffix(peerQ.copies[0].body, []byte(head+rest)) {
		t.Fatalf("copies %d, body not whole", len(peerQ.copies))
	}
	path, _, _ := body.File()
	if err := os.Truncate(path, 1000); err != nil {
		t.Fatal(err)
	}
	if err := push(body); err == nil || len(peerQ.copies) != 1 {
		t.Fatalf("a truncated spool file was pushed (%v, %d copies)", err, len(peerQ.copies))
	}
}

// dropFileQueue stores a spooled body whole and removes its file at once,
// as a store that delivered the message at once would.
type dropFileQueue struct{ bodyQueue }

func (q *dropFileQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	if err := q.bodyQueue.SubmitBody(ctx, m, body); err != nil {
		return err
	}
	path, _, _ := body.File()
	return os.Remove(path)
}

// Shadow on receipt of a spooled message: the copy streams from the
// spool file, and reaches the peer whole even when the queue is done
// with the file before the push (delivered at once).
func TestShadowOnReceiptSpooled(t *testing.T) {
	st, dir := spoolStore(t)
	peerQ := &copyQueue{}
	peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	q := &dropFileQueue{}
	s := receiptServerSpool(t, q, "    shadow_on_receipt: local-only\n", &fakeReceipt{peer: peer}, st)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	msg := "Subject: hi\r\n\r\n" + strings.Repeat("hello, a large body\r\n", 5000)
	got := d.cmd(msg+".", "250")
	if !strings.Contains(got, "shadow copy on hub-b") {
		t.Fatalf("reply %q", got)
	}
	if len(q.spooled) != 1 || !q.spooled[0] || len(peerQ.copies) != 1 || !bytes.HasSuffix(peerQ.copies[0].body, []byte(msg)) {
		t.Fatalf("spooled %v, copies %d", q.spooled, len(peerQ.copies))
	}
	waitSpoolFiles(t, dir, 0) // the push's link is gone too
}

// The peer's side of a spooled copy on receipt: a copy larger than the
// spool threshold is spooled by the verb layer and handed to the queue
// as its spool file (SubmitShadowCopyBody), never read whole, and the
// session leaves the file to the queue.
func TestShadowCopyKeptSpooled(t *testing.T) {
	st, dir := spoolStore(t)
	peerQ := &spoolCopyQueue{}
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	peer, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(),
		Queue: peerQ, Shadow: sh, ShadowEnabled: true, Spool: st.NewSpool, SpoolThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Listen(); err != nil {
		t.Fatal(err)
	}
	peer.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); peer.Shutdown(ctx) })

	c, _ := logClient(t, peer.Addrs()[0].String())
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion < 3 {
		t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
	}
	body := []byte("Subject: big copy\r\n\r\n" + strings.Repeat("a line of the copy\r\n.dot\r\n", 4000))
	m := &queue.Message{From: "a@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}
	if err := c.PushCopy(m, body, "dbA"); err != nil {
		t.Fatalf("PushCopy: %v", err)
	}
	if len(peerQ.copies) != 1 {
		t.Fatalf("copies kept: %d", len(peerQ.copies))
	}
	k := peerQ.copies[0]
	if k.spool == "" || !bytes.HasSuffix(k.body, body) {
		t.Fatalf("copy kept in memory (spool %q) or not whole (%d bytes)", k.spool, len(k.body))
	}
	if _, err := os.Stat(k.spool); err != nil {
		t.Fatalf("the session removed the spool file the queue was given: %v", err)
	}
	waitSpoolFiles(t, dir, 1)
}
