package delivery

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// cutSink is a next hop without PIPELINING (the lock-step DATA path)
// that calls onData when the first bytes of a message arrive and reads
// slowly, so the spool file can be cut while umbra streams it. It
// records every message ended with "." and every DATA the client left
// without one.
type cutSink struct {
	addr   string
	onData func()
	mu     sync.Mutex
	ended  []int // sizes of messages ended with "."
	cut    []int // sizes of DATA transfers the client abandoned
}

func startCutSink(t *testing.T, onData func()) *cutSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &cutSink{addr: ln.Addr().String(), onData: onData}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *cutSink) serve(c net.Conn) {
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(16 << 10)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second)) // a bound on the test
	br := bufio.NewReader(c)
	c.Write([]byte("220 sink.test ESMTP\r\n"))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			c.Write([]byte("250-sink.test\r\n250 8BITMIME\r\n"))
		case strings.HasPrefix(cmd, "QUIT"):
			c.Write([]byte("221 bye\r\n"))
			return
		case cmd == "DATA":
			c.Write([]byte("354 go\r\n"))
			var got bytes.Buffer
			buf := make([]byte, 4096)
			first := true
			for {
				n, err := br.Read(buf)
				got.Write(buf[:n])
				if first && n > 0 {
					first = false
					if s.onData != nil {
						s.onData()
					}
				}
				if bytes.HasSuffix(got.Bytes(), []byte("\r\n.\r\n")) {
					s.mu.Lock()
					s.ended = append(s.ended, got.Len())
					s.mu.Unlock()
					c.Write([]byte("250 2.0.0 ok\r\n"))
					break
				}
				if err != nil {
					s.mu.Lock()
					s.cut = append(s.cut, got.Len())
					s.mu.Unlock()
					return
				}
				time.Sleep(time.Millisecond) // a slow reader: the file is cut while it streams
			}
		default:
			c.Write([]byte("250 2.0.0 ok\r\n"))
		}
	}
}

func (s *cutSink) counts() (ended, cut []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.ended...), append([]int(nil), s.cut...)
}

// A spool file cut while it is streamed to the next hop is never
// delivered: umbra abandons the DATA without its final "." (it closes
// the connection), and the queue holds the message as poison, "body
// unreadable", as it does for a file cut before the attempt.
func TestSpoolFileCutDuringSMTPDeliveryGoesToPoison(t *testing.T) {
	dir := t.TempDir()
	store, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// 24 MiB: more than the socket buffers between umbra and the sink
	// can hold when the sink sees its first bytes, so umbra has not read
	// past the cut (12 MiB) then.
	body, _ := spoolInto(t, store, bigMessage(24<<20))
	path, _, _ := body.File()
	var once sync.Once
	s := startCutSink(t, func() { once.Do(func() { os.Truncate(path, 12<<20) }) })
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	q := queue.NewManager(store, d, queue.ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: "x@example.net"}}}
	if err := q.SubmitBody(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	var got *queue.Message
	for deadline := time.Now().Add(60 * time.Second); ; { // a bound on the test, not a timing assertion
		got, err = q.Message(m.ID)
		if err == nil && got.State == queue.Poison || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ended, cut := s.counts()
	for deadline := time.Now().Add(30 * time.Second); len(cut) == 0 && time.Now().Before(deadline); { // the sink drains what was sent
		time.Sleep(10 * time.Millisecond)
		ended, cut = s.counts()
	}
	if len(ended) != 0 {
		t.Fatalf("the sink got %d message(s) ended with \".\" (sizes %v) from a spool file cut mid-stream", len(ended), ended)
	}
	if err != nil || got.State != queue.Poison || !strings.Contains(got.LastError, "body unreadable") {
		t.Fatalf("message after the cut: %+v, %v; want poison, body unreadable", got, err)
	}
	if len(cut) != 1 {
		t.Fatalf("abandoned transfers at the sink: %v, want 1", cut)
	}
	if r := got.Rcpts[0].LastReply; !strings.Contains(r, "message content unreadable") {
		t.Fatalf("recipient's reply %q does not name the unreadable content", r)
	}
}

// The streamed paths never pass a spool file shorter than its record
// for the message: SMTP (pipelined), LMTP and Maildir each defer with
// "message content unreadable", the next hop gets no message ended with
// ".", and the Maildir gets no file in new/ (nor one left in tmp/).
func TestSpoolFileShortNeverDelivered(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	body, _ := spoolInto(t, store, bigMessage(1<<20))
	path, _, _ := body.File()
	if err := os.Truncate(path, 600<<10); err != nil {
		t.Fatal(err)
	}
	deferred := func(t *testing.T, res []queue.Result) {
		t.Helper()
		if len(res) == 0 {
			t.Fatal("no results")
		}
		for _, r := range res {
			if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "message content unreadable") {
				t.Fatalf("result %+v: want deferred, message content unreadable", r)
			}
		}
	}
	t.Run("smtp", func(t *testing.T) {
		s := startSink(t, "127.0.0.2:0", false, nil)
		dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
			hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
		m := message("x@example.net")
		deferred(t, d.DeliverBody(context.Background(), m, body, all(m)))
		if r := s.received(); len(r) != 0 {
			t.Fatalf("the sink got %d message(s), %d bytes, from a short spool file", len(r), len(r[0].body))
		}
	})
	t.Run("smtp-lockstep", func(t *testing.T) {
		s := startCutSink(t, nil)
		dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
			hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
		m := message("x@example.net")
		deferred(t, d.DeliverBody(context.Background(), m, body, all(m)))
		if ended, _ := s.counts(); len(ended) != 0 {
			t.Fatalf("the sink got messages ended with \".\" (sizes %v) from a short spool file", ended)
		}
	})
	t.Run("lmtp", func(t *testing.T) {
		s := startSink(t, "127.0.0.1:0", true, nil)
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
		m := message("ok@example.test", "two@example.test")
		deferred(t, d.DeliverBody(context.Background(), m, body, all(m)))
		if r := s.received(); len(r) != 0 {
			t.Fatalf("the LMTP server got %d message(s) from a short spool file", len(r))
		}
	})
	t.Run("maildir", func(t *testing.T) {
		root := t.TempDir()
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message("alice@example.test")
		deferred(t, d.DeliverBody(context.Background(), m, body, all(m)))
		for _, sub := range []string{"new", "tmp", "cur"} {
			if files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", sub, "*")); len(files) != 0 {
				t.Fatalf("maildir %s/ holds %v after a short spool file", sub, files)
			}
		}
	})
}

// A stop that comes while the body is being written does not close the
// connection at once: the next hop may have the whole message, dot
// included, before the writing goroutine learns its last write is done,
// and a close then makes SMTP's duplicate (the next hop delivers, the
// result is lost, the restart sends it again). The body and the reply to
// its final dot get the stop's grace; here the slow next hop takes
// under it, so the message ends with "." once and its 250 is the result.
// The grace is the sink's own bound here: the sink reads 8 MiB a few KiB
// per millisecond, which on a loaded machine under -race (or with
// GOMAXPROCS=1 beside another test binary) took more than the 10 s of
// production's grace, and the test then saw the body cut (and read the
// sink's counts before it had noted the cut: "0 ended, 0 cut").
func TestStopDuringBodyFinishesTheTransaction(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	body, _ := spoolInto(t, store, bigMessage(8<<20)) // more than the socket buffers hold: the stop finds the body being written
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startCutSink(t, cancel) // the stop comes with the body's first bytes
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	d.stopGrace = 60 * time.Second // the sink's deadline, a bound on the test (startCutSink)
	m := message("x@example.net")
	res := d.DeliverBody(ctx, m, body, all(m))
	ended, cut := s.counts()
	if len(ended) != 1 || len(cut) != 0 {
		t.Fatalf("at the next hop: %d ended with \".\", %d cut; want 1 and 0", len(ended), len(cut))
	}
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("result %+v: want the next hop's 250 (relayed)", res)
	}
}

// The stop's grace is a bound: a body the next hop has not taken when it
// passes is cut (the connection closed, no final "."), and the result is
// a deferral, never a 250 the next hop did not give. The sink sleeps a
// millisecond per read of at most 4 KiB, so 8 MiB take it at least two
// seconds, far past the 50 ms grace here.
func TestStopGraceCutsAnUnfinishedBody(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	body, _ := spoolInto(t, store, bigMessage(8<<20))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startCutSink(t, cancel)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	d.stopGrace = 50 * time.Millisecond
	m := message("x@example.net")
	res := d.DeliverBody(ctx, m, body, all(m))
	for _, r := range res {
		if r.Outcome == queue.RelayedOK {
			t.Fatalf("result %+v: relayed, but the next hop never had the whole body", r)
		}
	}
	for i := 0; i < 600; i++ { // the sink notes the cut when its read fails; a bound on the test
		if ended, cut := s.counts(); len(ended) != 0 || len(cut) != 0 {
			if len(ended) != 0 || len(cut) != 1 {
				t.Fatalf("at the next hop: %d ended with \".\", %d cut; want 0 and 1", len(ended), len(cut))
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the next hop's connection was never cut")
}
