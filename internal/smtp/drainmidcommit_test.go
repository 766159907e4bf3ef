package smtp

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// slowCommits is the real queue whose commits of a message or a copy
// start only once released: a commit under way (a stalled disk's fsync)
// when a stop forces the session closed. The commit goes to the store
// whatever the server's context meanwhile — a commit enqueued before the
// stop's cancel is made (queue commit.go: the context is read only
// before the writer is queued).
type slowCommits struct {
	*queue.Manager
	entered chan struct{} // one per commit entered
	release chan struct{} // closed: the commits go on
	done    atomic.Int32  // commits returned
}

func (c *slowCommits) hold() {
	c.entered <- struct{}{}
	<-c.release
}

func (c *slowCommits) Submit(_ context.Context, m *queue.Message, body []byte) error {
	defer c.done.Add(1)
	c.hold()
	return c.Manager.Submit(context.Background(), m, body)
}

func (c *slowCommits) SubmitShadowCopies(_ context.Context, copies []queue.ShadowCopy, primary, addr, dbID string) ([]queue.CopyResult, error) {
	defer c.done.Add(1)
	c.hold()
	return c.Manager.SubmitShadowCopies(context.Background(), copies, primary, addr, dbID)
}

// SR-17, SR-3, receipt42 item 2 (rrreceipt42): a stop that forces a
// session closed while the message at its end of data is still being
// committed, past the bound it waits for that commit (holdCommits),
// writes no 421: the commit may land after it, and a 421 to the data's
// end says nothing was kept. A primary takes such an answered push as
// one that kept nothing (receiptLink.MayHold false: no discard owed),
// and the copy, committed, was an orphan nobody discards — delivered
// again at its takeover; a sender retries a message it was told 421
// of, though it was queued. With no reply at all the primary counts the
// copy unconfirmed (may hold: its discard is owed), and a sender that
// lost the connection after its data knows it may have been taken.
// Real queue, real TCP.
func TestSR17DrainAfterCommitBoundWritesNo421(t *testing.T) {
	defer func(d time.Duration) { drainCommitWait = d }(drainCommitWait)
	drainCommitWait = 200 * time.Millisecond
	t.Run("copy", func(t *testing.T) { drainMidCommit(t, 40141, true) })
	t.Run("message", func(t *testing.T) { drainMidCommit(t, 40142, false) })
}

func drainMidCommit(t *testing.T, port int, copy bool) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	sq := &slowCommits{Manager: q, entered: make(chan struct{}, 1), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(sq.release)
		}
	}()
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.140:%d"]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, port, credsFile(t)))
	s := startShadowServer(t, sq, sh, true, conns)
	d := dial(t, s, "127.0.0.140")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	body := orgid.Header + ": " + orgid.New() + "\r\nSubject: mid-commit\r\n\r\nhello\r\n"
	if copy {
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2", "250")
		d.send(fmt.Sprintf("MAIL FROM:<a@example.org> XSHADOWCOPY=db1\r\nRCPT TO:<x@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(body), body))
	} else {
		d.send(fmt.Sprintf("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nBDAT %d LAST\r\n%s", len(body), body))
	}
	// The replies to MAIL and RCPT are held until the data's (one
	// round trip, PIPELINING): none is read before the commit.
	select {
	case <-sq.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the data's commit was not entered in 10 s")
	}
	// The stop: its bound already spent, the session is forced closed
	// while the commit is under way; the drain waits drainCommitWait
	// for it, then ends the session.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	drained := make(chan struct{})
	go func() { s.Drain(ctx); close(drained) }()
	d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string // MAIL's, RCPT's, the data's: as many as came
	for len(got) < 3 {
		r := d.reply()
		if strings.HasPrefix(r, "EOF") {
			break
		}
		got = append(got, r)
	}
	// The commit lands.
	close(sq.release)
	released = true
	<-drained
	for end := time.Now().Add(10 * time.Second); sq.done.Load() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the commit did not return in 10 s")
		}
	}
	kept := 0
	if copy {
		c, err := q.ShadowCopies()
		if err != nil {
			t.Fatal(err)
		}
		kept = c["hub2"].Held
	} else {
		ms, err := q.Messages(queue.MessageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		kept = len(ms)
	}
	if kept != 1 {
		t.Fatalf("%d kept after the commit landed; want 1", kept)
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "250") {
			t.Fatalf("replies %q though the message was kept: %q says nothing was (want no reply to the data, or its 250)", got, r)
		}
	}
}
