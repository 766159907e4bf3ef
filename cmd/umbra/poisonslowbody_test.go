package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// slowReadSink is a next hop that reads a message body slowly while slow
// is set: its sockets have a small receive buffer, and it takes a few
// hundred bytes at a time with a pause between, so umbra's writes of a
// large body block on it (a congested link, a tarpit on the body).
// reached is signalled each time a body begins; what arrives whole is
// counted by r.
type slowReadSink struct {
	mu      sync.Mutex
	slow    bool
	reached chan string
	r       *recorder
	srv     *gosmtp.Server
}

func startSlowReadSink(t *testing.T, addr string) *slowReadSink {
	t.Helper()
	s := &slowReadSink{slow: true, reached: make(chan string, 64), r: &recorder{seen: map[string]int{}, bodies: map[string]string{}}}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &slowReadSession{s: s}, nil }))
	s.srv.Domain, s.srv.ErrorLog = "slowread.test", nopLog{}
	s.srv.MaxMessageBytes = 64 << 20
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *slowReadSink) setSlow(v bool) {
	s.mu.Lock()
	s.slow = v
	s.mu.Unlock()
}

func (s *slowReadSink) isSlow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slow
}

// awaitBodies waits until n bodies have begun since the last call.
func (s *slowReadSink) awaitBodies(t *testing.T, n int, d *daemon, what string) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.reached:
		case <-time.After(60 * time.Second):
			d.dumpLog()
			t.Fatalf("%s: %d of %d bodies never began at the next hop", what, n-i, n)
		}
	}
}

func (s *slowReadSink) drain() {
	for {
		select {
		case <-s.reached:
		default:
			return
		}
	}
}

type slowReadSession struct{ s *slowReadSink }

func (s *slowReadSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *slowReadSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *slowReadSession) Reset()                                 {}
func (s *slowReadSession) Logout() error                          { return nil }
func (s *slowReadSession) Data(rd io.Reader) error {
	s.s.reached <- "body"
	var b []byte
	small, large := make([]byte, 512), make([]byte, 64<<10)
	for {
		buf := large
		if s.s.isSlow() {
			time.Sleep(100 * time.Millisecond)
			buf = small
		}
		n, err := rd.Read(buf)
		b = append(b, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return (&recSession{r: s.s.r}).Data(strings.NewReader(string(b)))
}

// bigBody is a message of about size bytes whose Subject is subj.
func bigBody(subj string, size int) string {
	line := strings.Repeat("0123456789abcdef", 4) + "ABCDEFGHIJ\r\n" // 76 bytes, as base64 is
	return "From: a@example.org\r\nTo: b@remote.example\r\nSubject: " + subj + "\r\n\r\n" + strings.Repeat(line, size/len(line))
}

var poisonedRe = regexp.MustCompile(`recovered messages that were in flight at the last stop.* poisoned=(\d+)`)

// lastPoisoned is what the last start's recovery said it moved to the
// poison queue (0 without the line: nothing was in flight).
func lastPoisoned(t *testing.T, d *daemon) int {
	t.Helper()
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	starts := strings.Split(string(b), "umbra ready")
	m := poisonedRe.FindAllStringSubmatch(starts[len(starts)-2], -1) // the text before the last start's ready
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// F5: a body written to a next hop that reads it slowly is the next
// hop's time, not umbra's code on the message. Three large messages
// stream to a slow reader; a kill -9 during the bodies, a restart, and a
// second kill -9 while the bodies stream again (a crash loop soon after
// the start, when every recovered message begins at once) must not move
// all of them to the poison queue: at most one counts the second crash
// (README, Crashes), and here, where each is blocked in a write to the
// next hop, none.
func TestKill9TwiceDuringSlowBodyWriteDoesNotPoison(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sink := startSlowReadSink(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	const n = 3
	var subjects []string
	for i := 1; i <= n; i++ {
		subj := fmt.Sprintf("slowbody-%d", i)
		c, err := gosmtp.Dial(listen)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("a@example.org", []string{fmt.Sprintf("b%d@remote.example", i)}, strings.NewReader(bigBody(subj, 6<<20))); err != nil {
			t.Fatalf("%s not acknowledged: %v", subj, err)
		}
		c.Quit()
		subjects = append(subjects, subj)
	}
	var ids []queue.ID
	out, _ := cli(t, cfg, "message", "list", "--json")
	var ms []admin.MessageView
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != n {
		t.Fatalf("message list: %s (%v), want the %d messages", out, err, n)
	}
	for _, m := range ms {
		id, err := queue.ParseID(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	dataDir := filepath.Join(dir, "data")
	for crash := 1; crash <= 2; crash++ {
		sink.awaitBodies(t, n, d, fmt.Sprintf("crash %d", crash))
		// Every body under way, blocked on the slow reader: each
		// delivery's peer-wait slot says so (an event, not a 300 ms
		// sleep that a loaded machine could end before the writes
		// blocked).
		waitCond(t, fmt.Sprintf("crash %d: every delivery blocked on the slow reader", crash), 60*time.Second, func() bool {
			for _, id := range ids {
				if slotPhase(t, dataDir, id) != 'W' {
					return false
				}
			}
			return true
		})
		d.kill()
		sink.drain()
		d = startUmbra(t, cfg, listen)
		if crash == 1 {
			if p := lastPoisoned(t, d); p != 0 {
				d.dumpLog()
				t.Fatalf("one crash poisoned %d messages", p)
			}
		}
	}
	if p := lastPoisoned(t, d); p != 0 {
		d.dumpLog()
		t.Fatalf("two crashes while the bodies were blocked on a slow next hop poisoned %d of %d messages", p, n)
	}
	sink.setSlow(false)
	waitArrived(t, sink.r, subjects, d)
}

// slotPhase is what the peer-wait slot file of the stopped daemon whose
// data directory is dataDir says of message id: 'R' (umbra's code ran
// on it), 'W' (it waited on a peer), 'S' (the operator's immediate stop
// cut it), or 0 for no slot. The file (queue/peerwait.go) is a 48-byte
// header beginning with "umbraPW2", then 16-byte slots: the id (8 bytes,
// big-endian), the phase, and a checksum.
func slotPhase(t *testing.T, dataDir string, id queue.ID) byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "peerwait.slots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 48 || string(b[:8]) != "umbraPW2" {
		t.Fatalf("peer-wait slot file without its header (%d bytes)", len(b))
	}
	for b = b[48:]; len(b) >= 16; b = b[16:] {
		if queue.ID(binary.BigEndian.Uint64(b[:8])) == id && b[8] != 'F' {
			return b[8]
		}
	}
	return 0
}

// logCount is how many times s occurs in the daemon's log now.
func logCount(d *daemon, s string) int {
	b, _ := os.ReadFile(d.log)
	return strings.Count(string(b), s)
}

// waitLogCount waits until the daemon's log holds want lines with s.
func waitLogCount(t *testing.T, d *daemon, s string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		if strings.Count(string(b), s) >= want {
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("the log never held %d lines with %q", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// F6: the second signal during the drain stops umbra at once, and that
// is the operator's stop, not a crash: two such stops while a body
// streams to a slow next hop (the delivery in umbra's code or blocked on
// the next hop, whichever the signal finds) count no crash against the
// message and never move it to the poison queue. The stop logs a line,
// and the next start says the cut deliveries are due at once.
func TestDoubleSignalStopCountsNoCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sink := startSlowReadSink(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(bigBody("stopnow-1", 6<<20))); err != nil {
		t.Fatalf("not acknowledged: %v", err)
	}
	c.Quit()
	var ms []admin.MessageView
	out, _ := cli(t, cfg, "message", "list", "--json")
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("message list: %s (%v), want the one message", out, err)
	}
	id, err := queue.ParseID(ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	for stop := 1; stop <= 3; stop++ {
		sink.awaitBodies(t, 1, d, fmt.Sprintf("stop %d", stop))
		time.Sleep(300 * time.Millisecond) // the body under way
		d.cmd.Process.Signal(syscall.SIGTERM)
		waitLogCount(t, d, "draining:", stop)
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
			d.done <- nil
		case <-time.After(30 * time.Second):
			d.dumpLog()
			t.Fatalf("stop %d: the second SIGTERM did not stop umbra at once", stop)
		}
		waitLogCount(t, d, "second signal: stopping at once", stop)
		// The line names the signal as the drain's own line does.
		waitLogCount(t, d, "signal=SIGTERM deliveries=", stop)
		// What the next start reads: the delivery the signal cut is
		// recorded as the operator's stop — whichever phase the signal
		// found it in (umbra's code or a wait on the slow next hop) —
		// so that no crash counts, not even from umbra's code.
		if ph := slotPhase(t, dataDir, id); ph != 'S' {
			t.Fatalf("stop %d: the peer-wait slot of the delivery the second signal cut says %q, want 'S' (stopped by the operator)", stop, ph)
		}
		sink.drain()
		d = startUmbra(t, cfg, listen)
		if p := lastPoisoned(t, d); p != 0 {
			d.dumpLog()
			t.Fatalf("after %d stops by a second signal: %d messages poisoned", stop, p)
		}
		waitLogCount(t, d, "the last stop cut at once", stop)
	}
	out, code := cli(t, cfg, "message", "list", "--state", "poison")
	if code != 0 || strings.Contains(out, "poison") {
		t.Fatalf("message list --state poison: rc %d\n%s", code, out)
	}
	// The three recoveries counted no crash: the database says so (a
	// kill -9 to read it; its own crash, if any, is counted at the next
	// start, below the threshold).
	d.kill()
	wantNoCrashCounted(t, dataDir, 1, true)
	sink.drain()
	d = startUmbra(t, cfg, listen)
	sink.setSlow(false)
	waitArrived(t, sink.r, []string{"stopnow-1"}, d)
}
