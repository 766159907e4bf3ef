package smtp

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// peerShutDown tells a connection its peer closed (FIN, with or without
// bytes still unread before it, as a TLS close_notify would be) from one
// still open, with or without bytes waiting, without taking any byte.
func TestPeerShutDownSeesTheFIN(t *testing.T) {
	if !peekSupported(&net.TCPConn{}) {
		t.Skip("no look at the socket on this system")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	settle := func() { time.Sleep(50 * time.Millisecond) } // loopback delivers within it
	c, s := pair()
	if peerShutDown(s) {
		t.Fatal("open, nothing sent: taken as closed")
	}
	c.Write([]byte("QUIT\r\n"))
	settle()
	if peerShutDown(s) {
		t.Fatal("open, a command waiting: taken as closed")
	}
	c.Close()
	settle()
	if !peerShutDown(s) {
		t.Fatal("closed after a command the server has not read: taken as open")
	}
	buf := make([]byte, 16) // the look took nothing
	if n, _ := s.Read(buf); string(buf[:n]) != "QUIT\r\n" {
		t.Fatalf("read %q after the look; want the command", buf[:n])
	}
	c2, s2 := pair()
	c2.Close()
	settle()
	if !peerShutDown(s2) {
		t.Fatal("closed with nothing sent: taken as open")
	}
}

// rt20a F1 (SR-3, SR-17): a push whose primary closed the session before
// this server answered it (its bound ran out: it counts the copy
// unconfirmed and makes it elsewhere) leaves no copy here; the same push
// answered is kept. Real queue, real TCP; over TLS too, where the
// primary's close_notify comes before its FIN.
func TestPushClosedBeforeAnswerLeavesNoCopy(t *testing.T) {
	if !peekSupported(&net.TCPConn{}) {
		t.Skip("no look at the socket on this system")
	}
	t.Run("plain", func(t *testing.T) { pushClosedBeforeAnswer(t, false) })
	t.Run("tls", func(t *testing.T) { pushClosedBeforeAnswer(t, true) })
}

func pushClosedBeforeAnswer(t *testing.T, withTLS bool) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	cq := &countedCopies{Manager: q}
	conns := transportConnector(t, "")
	cert, key, pool := testCert(t)
	if withTLS {
		conns = connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, cert, key, credsFile(t)))
	}
	s := startShadowServer(t, cq, sh, true, conns)
	held := func() int {
		c, err := q.ShadowCopies()
		if err != nil {
			t.Fatal(err)
		}
		return c["hub2"].Held
	}
	push := func(d *dialog, subject string) string {
		body := orgid.Header + ": " + orgid.New() + "\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
		return fmt.Sprintf("MAIL FROM:<a@example.org> XSHADOWCOPY=db1\r\nRCPT TO:<x@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(body), body)
	}
	open := func() *dialog {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		if withTLS {
			d.startTLS(pool)
			d.cmd("EHLO hub2.test", "250")
		}
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2", "250")
		return d
	}
	d := open()
	d.send(push(d, "answered"))
	d.expect("250")
	d.expect("250")
	if got := d.expect("250"); !strings.Contains(got, "Shadow copy kept") {
		t.Fatalf("answered push: %q", got)
	}
	if n := held(); n != 1 {
		t.Fatalf("%d copies held after the answered push; want 1", n)
	}
	// The primary gave up: the whole push written, the session closed
	// before any answer.
	for i := range 5 {
		d := open()
		d.send(push(d, fmt.Sprintf("abandoned %d", i)))
		d.conn.Close()
	}
	// Each push read and committed; then the sessions end once their
	// answers are decided (Drain waits for a transaction in hand).
	for end := time.Now().Add(10 * time.Second); cq.n.Load() < 6; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d pushes committed in 10 s; want 6", cq.n.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Drain(ctx)
	if n := held(); n != 1 {
		t.Fatalf("%d copies held after 5 pushes closed before their answer; want 1 (the answered one)", n)
	}
}

// countedCopies is the real queue, counting the commits of pushed copies.
type countedCopies struct {
	*queue.Manager
	n atomic.Int32
}

func (c *countedCopies) SubmitShadowCopies(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string) ([]queue.CopyResult, error) {
	defer c.n.Add(1)
	return c.Manager.SubmitShadowCopies(ctx, copies, primary, addr, dbID)
}

func (c *countedCopies) SubmitShadowCopiesMarked(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string, mark uint64) ([]queue.CopyResult, error) {
	defer c.n.Add(1)
	return c.Manager.SubmitShadowCopiesMarked(ctx, copies, primary, addr, dbID, mark)
}
