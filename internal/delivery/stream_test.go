package delivery

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

func bigMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: sender@example.org\r\nTo: x@example.net\r\nSubject: large\r\n\r\n")
	for i := 0; b.Len() < n; i++ {
		if i%5 == 0 {
			b.WriteString(".a line starting with a dot\r\n..two dots\r\n.\r\n")
		}
		b.WriteString("the quick brown fox jumps over the lazy dog 0123456789 the quick brown fox\r\n")
	}
	return b.Bytes()
}

// spoolInto writes content as a spool file of store, with the header
// section replaced the way a receiving session does (WithHead).
func spoolInto(t *testing.T, store *queue.Store, content []byte) (queue.Body, []byte) {
	t.Helper()
	w, err := store.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.Index(content, []byte("\r\n\r\n")) + 4
	hdr := append([]byte("Received: from client.test by umbra.test\r\n"), content[:end]...)
	b, err = b.WithHead(hdr, int64(end))
	if err != nil {
		t.Fatal(err)
	}
	return b, append(append([]byte(nil), hdr...), content[end:]...)
}

// A spooled message submitted to the queue is delivered over real SMTP
// to a loopback sink byte for byte, streamed from its file, and its file
// is removed once the message is done.
func TestSpooledBodyDeliveredOverSMTP(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	dir := t.TempDir()
	store, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	q := queue.NewManager(store, d, queue.ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	body, want := spoolInto(t, store, bigMessage(6<<20))
	m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: "x@example.net"}}}
	if err := q.SubmitBody(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	gone, stopWait := q.WaitGone(m.ID) // closed at once when it is gone already
	defer stopWait()
	select {
	case <-gone:
	case <-time.After(60 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("the spooled message was not delivered")
	}
	r := s.received()
	if len(r) != 1 {
		t.Fatalf("sink got %d messages", len(r))
	}
	if r[0].body != string(want) {
		t.Fatalf("sink got %d bytes, want the %d stored, byte for byte", len(r[0].body), len(want))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(dir, "spool"))
		if len(ents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool files left after delivery: %d", len(ents))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The streamed paths write exactly what the in-memory paths write for
// the same content: SMTP DATA (with and without PIPELINING's path, the
// sink offers it), LMTP and Maildir.
func TestSpooledBodySameAsInMemory(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	body, whole := spoolInto(t, store, bigMessage(1<<20))

	t.Run("smtp", func(t *testing.T) {
		s := startSink(t, "127.0.0.2:0", false, nil)
		dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
			hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
		m := message("x@example.net")
		for _, res := range [][]queue.Result{d.DeliverBody(context.Background(), m, body, all(m)), d.Deliver(context.Background(), m, whole, all(m))} {
			if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
				t.Fatalf("results %+v", res)
			}
		}
		r := s.received()
		if len(r) != 2 || r[0].body != r[1].body || r[0].body != string(whole) {
			t.Fatalf("streamed and in-memory copies differ (%d messages)", len(r))
		}
	})
	t.Run("lmtp", func(t *testing.T) {
		s := startSink(t, "127.0.0.1:0", true, nil)
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
		m := message("ok@example.test", "two@example.test")
		for _, res := range [][]queue.Result{d.DeliverBody(context.Background(), m, body, all(m)), d.Deliver(context.Background(), m, whole, all(m))} {
			for _, r := range res {
				if r.Outcome != queue.DeliveredOK {
					t.Fatalf("results %+v", res)
				}
			}
		}
		r := s.received()
		if len(r) != 2 || r[0].body != r[1].body || len(r[0].body) < len(whole) {
			t.Fatalf("streamed and in-memory LMTP copies differ (%d messages)", len(r))
		}
	})
	t.Run("maildir", func(t *testing.T) {
		root := t.TempDir()
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message("alice@example.test")
		if res := d.DeliverBody(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.DeliveredOK {
			t.Fatalf("results %+v", res)
		}
		files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "new", "*"))
		if len(files) != 1 {
			t.Fatalf("maildir files %v", files)
		}
		got, _ := os.ReadFile(files[0])
		if want := "Return-Path: <sender@example.org>\r\nDelivered-To: alice@example.test\r\n" + string(whole); string(got) != want {
			t.Fatalf("maildir file: %d bytes, want %d", len(got), len(want))
		}
	})
}
