package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// batchQueue keeps batches in one call (one commit), as queue.Manager.
type batchQueue struct {
	copyQueue
	batches []int // copies per SubmitShadowCopies call
}

func (q *batchQueue) SubmitShadowCopies(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string) ([]queue.CopyResult, error) {
	res := make([]queue.CopyResult, len(copies))
	q.mu.Lock()
	q.batches = append(q.batches, len(copies))
	q.mu.Unlock()
	for i, c := range copies {
		if !orgid.Valid(c.M.OrgID) {
			res[i].Err = queue.ErrBadCopy
			continue
		}
		stored, err := q.SubmitShadowCopyBody(ctx, c.M, c.Body, primary, addr, dbID)
		res[i] = queue.CopyResult{Stored: stored, Err: err}
	}
	return res, nil
}

// v6Peer is a shadow server that offers version 6 (its queue keeps a
// batch in one commit).
func v6Peer(t *testing.T) (*Server, *batchQueue) {
	q := &batchQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	return startShadowServer(t, q, sh, true, transportConnector(t, "")), q
}

func batchMsg(from string, rcpts ...string) *queue.Message {
	m := &queue.Message{From: from, OrgID: orgid.New()}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
	}
	return m
}

// withoutTrace is a kept body without the peer's Received field (its
// queue id differs from copy to copy).
func withoutTrace(b []byte) string {
	_, rest, _ := bytes.Cut(b, []byte("\r\nSubject:"))
	return string(rest)
}

// Version 6: copies of several senders go to the peer as one batch, in
// one write; each is kept with its own envelope and exactly the bytes a
// single push (version 5) keeps, in one commit of the peer.
func TestPushBatch(t *testing.T) {
	peer, q := v6Peer(t)
	c, wl := shadowLogClient(t, peer)
	if c.ShadowVersion != 6 || !c.CanPushBatch() {
		t.Fatalf("client speaks version %d with a version-6 peer", c.ShadowVersion)
	}
	body := []byte("Received: from x\r\n by y; now\r\nSubject: c\r\n\r\n.body\r\n")
	ms := []*queue.Message{
		batchMsg("a@example.org", "x@elsewhere.org"),
		batchMsg("", "y@elsewhere.org", "z@elsewhere.org"),
		batchMsg("b@example.org", "w@elsewhere.org"),
	}
	ms[2].EnvID, ms[2].RetFull = "env+2Bid", true
	var recs [][]byte
	for _, m := range ms {
		rec, ok := c.CopyRecord(m, body)
		if !ok {
			t.Fatalf("%v cannot go in a batch", m.From)
		}
		recs = append(recs, rec)
	}
	errs, err := c.PushBatch(recs, "dbA")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("copy %d: %v", i+1, e)
		}
	}
	if w := wl.pushWrites(); len(w) != 1 {
		t.Fatalf("batch sent in %d writes: %q", len(w), w)
	}
	if len(q.copies) != 3 || len(q.batches) != 1 || q.batches[0] != 3 {
		t.Fatalf("%d copies kept in batches %v", len(q.copies), q.batches)
	}
	for i, k := range q.copies {
		m := ms[i]
		if k.m.From != m.From || k.m.OrgID != m.OrgID || len(k.m.Rcpts) != len(m.Rcpts) || k.primary != "hub2" || k.dbID != "dbA" ||
			k.m.EnvID != m.EnvID || k.m.RetFull != m.RetFull {
			t.Errorf("copy %d kept as %+v for %s/%s, pushed %+v", i+1, k.m, k.primary, k.dbID, m)
		}
	}
	// The same copy alone (version 5's form) keeps the same bytes.
	if err := c.PushCopy(batchMsg("a@example.org", "x@elsewhere.org"), body, "dbA"); err != nil {
		t.Fatal(err)
	}
	if a, b := withoutTrace(q.copies[0].body), withoutTrace(q.copies[3].body); a != b || a == "" {
		t.Fatalf("batch kept %q, a single push %q", a, b)
	}
}

// One copy the peer cannot keep (no organisation id, a recipient it
// refuses) is refused alone in the batch's reply; the others are kept.
func TestPushBatchOneBadCopy(t *testing.T) {
	peer, q := v6Peer(t)
	c, _ := shadowLogClient(t, peer)
	body := []byte("Subject: c\r\n\r\nhello\r\n")
	good := func() []byte {
		rec, _ := c.CopyRecord(batchMsg("a@example.org", "x@elsewhere.org"), body)
		return rec
	}
	noID := appendCopyRecord(nil, batchMsg("a@example.org", "x@elsewhere.org"), false, [][]byte{body}, len(body), 0)
	badRcpt := appendCopyRecord(nil, batchMsg("a@example.org", "bad address@"), false, [][]byte{body}, len(body), 0)
	errs, err := c.PushBatch([][]byte{good(), noID, badRcpt, good()}, "dbA")
	if err != nil {
		t.Fatal(err)
	}
	var se *gosmtp.SMTPError
	if errs[0] != nil || errs[3] != nil {
		t.Fatalf("good copies refused: %v", errs)
	}
	if !errors.As(errs[1], &se) || se.Code != 554 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 6, 0}) {
		t.Fatalf("copy without an org id: %v", errs[1])
	}
	if !errors.As(errs[2], &se) || se.Code/100 != 5 {
		t.Fatalf("copy with a bad recipient: %v", errs[2])
	}
	if len(q.copies) != 2 {
		t.Fatalf("%d copies kept, want 2", len(q.copies))
	}
	// The session takes the next batch.
	if errs, err := c.PushBatch([][]byte{good()}, "dbA"); err != nil || errs[0] != nil || len(q.copies) != 3 {
		t.Fatalf("next batch: %v %v, %d kept", errs, err, len(q.copies))
	}
}

// A batch whose framing is wrong is refused whole (554 5.6.0), nothing
// of it kept; a batch is offered from version 6 only, and only with
// XSHADOWCOPY=.
func TestShadowBatchRefusals(t *testing.T) {
	peer, q := v6Peer(t)
	d := dial(t, peer, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	body := orgid.Header + ": " + orgid.New() + "\r\nSubject: copy\r\n\r\nhello\r\n"
	rec := fmt.Sprintf("COPY %d 1 -\r\nFROM a@example.org\r\nRCPT x@elsewhere.org\r\n%s", len(body), body)
	d.send(fmt.Sprintf("MAIL FROM:<> XSHADOWCOPY=db1 XSHADOWBATCH=2\r\nRCPT TO:<x@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(rec), rec))
	for _, want := range []string{"250", "250", "554 5.6.0"} {
		d.expect(want)
	}
	d.cmd("MAIL FROM:<> XSHADOWBATCH=1", "501 5.5.4")
	d.cmd("MAIL FROM:<> XSHADOWCOPY=db1 XSHADOWBATCH=0", "501 5.5.4")
	d.cmd("MAIL FROM:<> XSHADOWCOPY=db1 XSHADOWBATCH=65", "501 5.5.4")
	if len(q.copies) != 0 {
		t.Fatalf("%d copies kept of a malformed batch", len(q.copies))
	}
	d.send(fmt.Sprintf("MAIL FROM:<> XSHADOWCOPY=db1 XSHADOWBATCH=1\r\nRCPT TO:<x@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(rec), rec))
	d.expect("250")
	d.expect("250")
	if r := d.expect("250 2.0.0 Batch of 1 "); !strings.HasPrefix(r, "250-COPY 1 250 2.0.0 Shadow copy kept as ") {
		t.Fatalf("batch reply %q", r)
	}
	if len(q.copies) != 1 {
		t.Fatalf("%d copies kept", len(q.copies))
	}

	old, _ := v5Peer(t)
	d = dial(t, old, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	if r := d.cmd("XSHADOW hub2", "250"); strings.Contains(r, "XSHADOW 6") {
		t.Fatalf("a queue without batches offers version 6: %q", r)
	}
	d.cmd("MAIL FROM:<> XSHADOWCOPY=db1 XSHADOWBATCH=1", "503 5.5.1")
}

// A client with a version-5 peer never batches: copies go one by one in
// version 5's form, as before.
func TestPushBatchVersion5Peer(t *testing.T) {
	peer, q := v5Peer(t)
	c, _ := shadowLogClient(t, peer)
	if c.CanPushBatch() {
		t.Fatal("batch offered to a version-5 peer")
	}
	if _, err := c.PushBatch([][]byte{[]byte("x")}, "dbA"); !errors.Is(err, ErrNoCopies) {
		t.Fatalf("PushBatch to a version-5 peer: %v", err)
	}
	if err := c.PushCopy(batchMsg("a@example.org", "x@elsewhere.org"), []byte("Subject: c\r\n\r\nhi\r\n"), "dbA"); err != nil || len(q.copies) != 1 {
		t.Fatalf("single copy: %v, %d kept", err, len(q.copies))
	}
}

// FuzzCopyBatch: the batch parser never panics, never reads past the
// payload, and what it parses is what the records it would make say:
// encoding the parsed copies again parses to the same copies.
func FuzzCopyBatch(f *testing.F) {
	body := "Subject: c\r\n\r\nhello\r\n"
	m := batchMsg("a@example.org", "x@elsewhere.org", "y@elsewhere.org")
	m.EnvID, m.RetFull = "e1", true
	one := appendCopyRecord(nil, m, true, [][]byte{[]byte(body)}, len(body), 7)
	f.Add(one, uint8(1))
	f.Add(append(append([]byte(nil), one...), one...), uint8(2))
	f.Add([]byte("COPY 4 1 -\r\nFROM \r\nRCPT a\r\nab\r\n"), uint8(1))
	f.Add([]byte("COPY 99999999999 1 E\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, p []byte, n uint8) {
		copies, err := parseCopyBatch(p, int(n), 100, true)
		// A session below version 24 (marks false) reads a batch the
		// same way save that a MARK refuses it: parsed there, it is
		// parsed here alike and states no mark (rr39).
		old, oldErr := parseCopyBatch(p, int(n), 100, false)
		if oldErr == nil {
			if err != nil || len(old) != len(copies) {
				t.Fatalf("parsed without marks (%d copies), with them: %v", len(old), err)
			}
			for i := range old {
				if old[i].mark != 0 || copies[i].mark != 0 || old[i].from != copies[i].from || !bytes.Equal(old[i].body, copies[i].body) {
					t.Fatalf("copy %d without marks %+v, with them %+v", i, old[i], copies[i])
				}
			}
		}
		if err != nil {
			return
		}
		if oldErr != nil && !slices.ContainsFunc(copies, func(c batchCopy) bool { return c.mark > 0 }) {
			t.Fatalf("a batch stating no mark refused in a session below 24: %v", oldErr)
		}
		if len(copies) != int(n) {
			t.Fatalf("%d copies for a batch of %d", len(copies), n)
		}
		var again []byte
		for _, c := range copies {
			m := &queue.Message{From: c.from, EnvID: c.envID, RetFull: c.retFull}
			for _, r := range c.rcpts {
				m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
			}
			again = appendCopyRecord(again, m, c.utf8, [][]byte{c.body}, len(c.body), c.mark)
		}
		copies2, err := parseCopyBatch(again, int(n), 100, true)
		if err != nil {
			t.Fatalf("re-encoded batch does not parse: %v\n%q", err, again)
		}
		for i := range copies {
			a, b := copies[i], copies2[i]
			if a.from != b.from || a.mark != b.mark || a.envID != b.envID || a.utf8 != b.utf8 || a.retFull != b.retFull ||
				!bytes.Equal(a.body, b.body) || strings.Join(a.rcpts, "\n") != strings.Join(b.rcpts, "\n") {
				t.Fatalf("copy %d: %+v, again %+v", i, a, b)
			}
		}
	})
}
