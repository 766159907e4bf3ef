package smtp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// bodyQueue is a fakeQueue that also takes spooled bodies (SubmitBody),
// recording their content and leaving the spool file to the "store", as
// a record naming it would.
type bodyQueue struct {
	fakeQueue
	bmu     sync.Mutex
	spooled []bool
}

func (q *bodyQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	b, err := body.Bytes()
	if err != nil {
		return err
	}
	if err := q.Submit(ctx, m, bytes.Clone(b)); err != nil {
		return err
	}
	q.bmu.Lock()
	q.spooled = append(q.spooled, body.Spooled())
	q.bmu.Unlock()
	return nil
}

func (q *bodyQueue) Submit(ctx context.Context, m *queue.Message, body []byte) error {
	if err := q.fakeQueue.Submit(ctx, m, body); err != nil {
		return err
	}
	return nil
}

// spoolStore opens a transport database in a temporary directory for its
// spool files; it returns the spool directory.
func spoolStore(t testing.TB) (*queue.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, filepath.Join(dir, "spool")
}

// startSpoolServer is startServer with spooling past threshold bytes.
func startSpoolServer(t *testing.T, q Queue, st *queue.Store, threshold int64, maxHeader int, conns ...config.ReceiveConnector) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q,
		Spool: st.NewSpool, SpoolThreshold: threshold, MaxHeaderSize: maxHeader})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func spoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// waitSpoolFiles waits (bounded) until the spool directory holds n files.
func waitSpoolFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := spoolFiles(t, dir)
		if len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool directory holds %d files %v, want %d", len(got), got, n)
		}
	}
}

// dropTrace removes the first header field (umbra's Received, which
// names the queue id and the time) from a stored body.
func dropTrace(b []byte) []byte {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("\r\n"))
		if j < 0 {
			return nil
		}
		i += j + 2
		if i >= len(b) || b[i] != '\t' && b[i] != ' ' {
			return b[i:]
		}
	}
}

const spoolConnectors = `
  - name: strict
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_line_length: 1000, max_message_size: 40000, soft_error_limit: 100000}
  - name: normalize
    bindings: ["127.0.0.2:0"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
    limits: {max_line_length: 1000, max_message_size: 40000, soft_error_limit: 100000}
`

// stored is what one message did on one server: the reply and the
// content stored (trace field removed).
type stored struct {
	reply string
	body  string
	// grown: the bytes the session recorded as its own (queue.Message
	// Grown), -1 when it recorded none.
	grown int64
}

// sendAll sends each message by DATA (stuffed) and by BDAT (in chunks of
// chunk bytes) on one session to connector k, and returns what each did.
func sendAll(t *testing.T, s *Server, q *bodyQueue, k int, msgs [][]byte, chunk int) []stored {
	t.Helper()
	d := dialConnector(t, s, k)
	d.expect("220")
	d.cmd("EHLO c", "250")
	var out []stored
	for _, msg := range msgs {
		for _, bdat := range []bool{false, true} {
			out = append(out, sendOne(d, q, msg, bdat, chunk))
		}
	}
	d.cmd("QUIT", "221")
	return out
}

// dialConnector is dial to the k-th binding of s.
func dialConnector(t *testing.T, s *Server, k int) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addrs()[k].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &dialog{t: t, conn: c, r: bufio.NewReader(c)}
}

// stuff dot-stuffs a message for DATA (lines starting with "." get
// another; the message is made to end in CRLF).
func stuff(msg []byte) []byte {
	var out []byte
	bol := true
	for i, c := range msg {
		if bol && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		bol = c == '\n' && i > 0 && msg[i-1] == '\r'
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// spoolCases are messages for the differential test: around the
// threshold, with dot-stuffing, bare CR and LF, NUL, long lines, over the
// size limit, header sections of every shape.
func spoolCases(rng *rand.Rand) [][]byte {
	line := func(n int, c byte) string { return strings.Repeat(string(c), n) }
	big := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d %s\r\n", b.Len(), line(rng.Intn(120), 'x'))
			if rng.Intn(7) == 0 {
				b.WriteString(".dot at the start\r\n")
			}
			if rng.Intn(11) == 0 {
				b.WriteString("..\r\n.\r\n")
			}
		}
		return b.String()
	}
	msgs := []string{
		"Subject: small\r\n\r\nhi\r\n",
		"Subject: big\r\nMessage-ID: <m1@x>\r\n\r\n" + big(5000),
		"Subject: bigger\r\nReturn-Path: <x@y>\r\nX-Umbra-Org-Id: forged\r\n\r\n" + big(30000),
		"Subject: bare lf late\r\n\r\n" + big(9000) + "a\nb\r\n",
		"Subject: bare cr late\r\n\r\n" + big(9000) + "a\rb\r\n",
		"Subject: cr at the end\r\n\r\n" + big(9000) + "a\r",
		"Subject: nul\r\n\r\n" + big(9000) + "a\x00b\r\n",
		"Subject: long line\r\n\r\n" + big(9000) + line(1200, 'y') + "\r\n",
		"Subject: too big\r\n\r\n" + big(45000),
		"Subject: too big with a long line after\r\n\r\n" + big(41000) + line(1200, 'z') + "\r\n",
		"Subject: just under\r\n\r\n" + big(39000),
		big(9000), // no header section: the whole message is read as one
		"\r\n" + big(9000),
		"X-Long: " + line(900, 'h') + "\r\n" + strings.Repeat("X-H: "+line(500, 'v')+"\r\n", 12) + "\r\n" + big(3000),
		strings.Repeat("\r\n \t", 3000),
		strings.Repeat(" ", 6000) + "\u00a0\r\n" + strings.Repeat("\u3000", 2000),
		strings.Repeat(" ", 6000) + "\u00a0\r\n" + strings.Repeat("\u3000", 2000) + "\xe3\x80",
		"Subject: dots\r\n\r\n" + strings.Repeat(".\r\n..\r\n...x\r\n", 800),
		"Subject: lf dot\r\n\r\n" + big(5000) + "\n.\n" + big(5000),
		"Received: a\r\nReceived: b\r\nDelivered-To: c@example.test\r\n\r\n" + big(5000),
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(m)
	}
	return out
}

// The same messages through a server that keeps bodies in memory and one
// that spools everything past 1 KiB give the same replies and store the
// same bytes, by DATA and by BDAT, refusing bare newlines and normalising
// them.
func TestSpoolDifferential(t *testing.T) {
	st, dir := spoolStore(t)
	rng := rand.New(rand.NewSource(1))
	msgs := spoolCases(rng)
	mem, spool := &bodyQueue{}, &bodyQueue{}
	sm := startServer(t, mem, connectors(t, spoolConnectors)...)
	ss := startSpoolServer(t, spool, st, 1024, 0, connectors(t, spoolConnectors)...)
	for k := range 2 {
		for _, chunk := range []int{700, 4096, 1 << 20} {
			want := sendAll(t, sm, mem, k, msgs, chunk)
			got := sendAll(t, ss, spool, k, msgs, chunk)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("connector %d chunk %d message %d (%s): spooled %q / %.200q, in memory %q / %.200q",
						k, chunk, i/2, []string{"DATA", "BDAT"}[i%2], got[i].reply, got[i].body, want[i].reply, want[i].body)
				}
			}
		}
	}
	n := 0
	for _, sp := range spool.spooled {
		if sp {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no message was spooled")
	}
	// Each accepted spooled message left its file (the store's now);
	// every refused one left none.
	if got := len(spoolFiles(t, dir)); got != n {
		t.Errorf("%d spool files for %d spooled messages", got, n)
	}
}

// A large body is in a spool file while it is read, and the file goes
// when the message is refused, when the client leaves in the middle, and
// when a BDAT transfer is abandoned; an accepted one's file is the
// store's.
func TestSpoolFileLifecycle(t *testing.T) {
	st, dir := spoolStore(t)
	q := &bodyQueue{}
	s := startSpoolServer(t, q, st, 4096, 0, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1MiB}
`)...)
	part := "Subject: x\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 400)

	// Refused at the end (a NUL): the file was there, then is not.
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send(part)
	waitSpoolFiles(t, dir, 1)
	d.send("a\x00b\r\n.\r\n")
	d.expect("554 5.6.0")
	waitSpoolFiles(t, dir, 0)

	// Over the size limit: the file goes as soon as the limit is passed.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send(part)
	waitSpoolFiles(t, dir, 1)
	for range 60 {
		d.send(part)
	}
	waitSpoolFiles(t, dir, 0)
	d.send(".\r\n")
	d.expect("552 5.3.4")

	// A BDAT transfer abandoned by RSET.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(part), part))
	d.expect("250")
	waitSpoolFiles(t, dir, 1)
	d.cmd("RSET", "250")
	waitSpoolFiles(t, dir, 0)

	// Accepted: the file stays, named by the stored message.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part), part))
	d.expect("250")
	waitSpoolFiles(t, dir, 1)
	if len(q.spooled) != 1 || !q.spooled[0] || string(dropTrace(q.bodies[0])) != part {
		t.Fatalf("stored %v %.80q", q.spooled, q.bodies)
	}
	for _, f := range spoolFiles(t, dir) {
		os.Remove(filepath.Join(dir, f)) // as the store would once delivered
	}

	// The client leaves in the middle of DATA, and of a BDAT transfer.
	for _, bdat := range []bool{false, true} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		if bdat {
			d.send(fmt.Sprintf("BDAT %d\r\n%s", len(part)*2, part))
		} else {
			d.cmd("DATA", "354")
			d.send(part)
		}
		waitSpoolFiles(t, dir, 1)
		d.conn.Close()
		waitSpoolFiles(t, dir, 0)
	}
	if q.count() != 1 {
		t.Fatalf("%d messages queued, want 1", q.count())
	}
}

// A header section over max_header_size is refused (552 5.3.4) whether
// the message is spooled or not; one just under it is taken. The header
// section ends at the empty line or at the first line that is neither a
// field nor a continuation, so a message whose lines are not header
// fields is taken whatever its size.
func TestSpoolHeaderLimit(t *testing.T) {
	st, _ := spoolStore(t)
	conns := connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)
	for _, threshold := range []int64{1 << 30, 1024} {
		q := &bodyQueue{}
		s := startSpoolServer(t, q, st, threshold, 8192, conns...)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		field := "X-H: " + strings.Repeat("v", 90) + "\r\n" // 97 bytes
		for _, c := range []struct {
			msg  string
			want string
		}{
			{strings.Repeat(field, 84) + "\r\n" + strings.Repeat("body\r\n", 3000), "250"},       // 8150 bytes of header
			{strings.Repeat(field, 85) + "\r\n" + strings.Repeat("body\r\n", 3000), "552 5.3.4"}, // 8247
			// Header fields with no empty line after them: all header.
			{strings.Repeat(field, 85), "552 5.3.4"},
			{strings.Repeat(field, 84), "250"},
			// The header section ends at the first line that is not a
			// header field: only the fields before it count (F10).
			{strings.Repeat("no header section at all\r\n", 400), "250"},
			{"Subject: a\r\nFrom: b@example.org\r\nnot a field\r\n" + strings.Repeat(field, 200), "250"},
			{strings.Repeat(field, 85) + "not a field\r\n", "552 5.3.4"},
			{" starts with a blank\r\n" + strings.Repeat(field, 200), "250"},
			{"X-H: folded\r\n" + strings.Repeat(" continuation of it, a long one at that, really long\r\n", 200), "552 5.3.4"},
		} {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send(c.msg + ".\r\n")
			d.expect(c.want)
		}
	}
}

// streamingCheck is an end-of-data check that reads a spooled body
// through Transaction.Rest; verdict is its answer.
type streamingCheck struct {
	verdict Verdict
	read    int64 // the body bytes it read through Rest
}

func (c *streamingCheck) Name() string      { return "streaming" }
func (c *streamingCheck) StreamsBody() bool { return true }
func (c *streamingCheck) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	if t.Rest != nil {
		r, err := t.Rest()
		if err == nil {
			c.read, _ = io.Copy(io.Discard, r)
			r.Close()
		}
	}
	return c.verdict
}

// A spooled message a check discards, refuses or quarantines into a full
// quarantine leaves no spool file; the check read the body through Rest.
func TestSpoolFileRemovedOnDiscardAndRefusal(t *testing.T) {
	part := "Subject: x\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 400)
	for _, c := range []struct {
		name    string
		verdict Verdict
		fail    error
		want    string
	}{
		{"discard", Verdict{Discard: true}, nil, "250 2.0.0"},
		{"refused", Verdict{Reply: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "no"}}, nil, "550 5.7.1"},
		{"quarantine full", Verdict{Quarantine: "spam"}, queue.ErrQuarantineFull, "452 4.3.1"},
		{"accepted", Verdict{}, nil, "250 2.0.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, dir := spoolStore(t)
			q := &bodyQueue{}
			q.failWith = c.fail
			ck := &streamingCheck{verdict: c.verdict}
			s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`), Routing: testTable(), Queue: q, Spool: st.NewSpool, SpoolThreshold: 4096,
				Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
			s.Serve()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Shutdown(ctx)
			}()
			d := dial(t, s, "")
			d.expect("220")
			d.openData()
			d.cmd(part+".", c.want)
			want := 0
			if c.name == "accepted" {
				want = 1
			}
			waitSpoolFiles(t, dir, want)
			if ck.read != int64(len(part)-len("Subject: x\r\n\r\n")) {
				t.Fatalf("the check read %d body bytes through Rest", ck.read)
			}
		})
	}
}

// sendOne sends msg on an open session by DATA (stuffed) or BDAT (in
// chunks of chunk bytes) and returns what it did.
func sendOne(d *dialog, q *bodyQueue, msg []byte, bdat bool, chunk int) stored {
	n := q.count()
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	var r string
	if !bdat {
		d.cmd("DATA", "354")
		d.send(string(stuff(msg)) + ".\r\n")
		r = d.reply()
	} else {
		for i := 0; ; i += chunk {
			end := min(i+chunk, len(msg))
			if end == len(msg) {
				d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", end-i, msg[i:end]))
				break
			}
			d.send(fmt.Sprintf("BDAT %d\r\n%s", end-i, msg[i:end]))
			if got := d.reply(); !strings.HasPrefix(got, "250") {
				r = got
				break
			}
		}
		if r == "" {
			r = d.reply()
		}
	}
	if !strings.HasPrefix(r, "250") {
		d.cmd("RSET", "250")
	}
	st := stored{reply: r}
	if i := strings.Index(st.reply, "queued as "); i >= 0 {
		st.reply = st.reply[:i]
	}
	if q.count() > n {
		q.mu.Lock()
		st.body = string(dropTrace(q.bodies[len(q.bodies)-1]))
		m := q.msgs[len(q.msgs)-1]
		q.mu.Unlock()
		st.grown = -1
		if m.GrownKnown {
			st.grown = m.Grown
		}
		// SMTP-5: what the session added is the content stored less the
		// message as sent (DATA: the CRLF stuff ends it with is the
		// sender's), never less than nothing: size limits hold the
		// message at the smaller of the two.
		sent := len(msg)
		if !bdat && !bytes.HasSuffix(msg, []byte("\r\n")) {
			sent += 2
		}
		if want := int64(max(len(st.body)-sent, 0)); st.grown != want {
			d.t.Errorf("%.60q (bdat %v): recorded %d bytes added by umbra, want %d (stored %d, sent %d)", msg, bdat, st.grown, want, len(st.body), sent)
		}
	}
	return st
}

// FuzzSpoolDifferential: any message, by DATA or by BDAT in chunks of any
// size, on a connector that refuses or normalises bare newlines, gets
// the same reply and is stored byte for byte the same by a server that
// keeps bodies in memory and by one that spools every body past 64
// bytes.
func FuzzSpoolDifferential(f *testing.F) {
	for _, s := range []string{"Subject: a\r\n\r\nb\r\n", ".\r\n..x\r\n", "a\nb\r\n", "a\rb", "X: y\r\n\r\n" + strings.Repeat("z", 1200), "\x00", " \r\n\t",
		// Header sections that end at a line that is not a field (F10),
		// around max_header_size (200 here), and organisation id and
		// Return-Path lines on either side of that end.
		"Subject: a\r\nnot a field\r\nX-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\nReturn-Path: <x@y>\r\n",
		"X-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\nReturn-Path: <x@y>\r\n body\r\n" + strings.Repeat("line\r\n", 100),
		strings.Repeat("X-F: "+strings.Repeat("v", 40)+"\r\n", 5) + "no\r\n" + strings.Repeat("w", 900) + "\r\n",
		strings.Repeat("X-F: "+strings.Repeat("v", 40)+"\r\n", 4) + "X-G: vvvvvvvvvvvvvvvvv\r\n" + "no\r\n",
		" first line blank\r\nX-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\n",
		"X-A: b\r\n\r", "X-A : b\r\nX-B\r\n", "X-A: b"} {
		f.Add([]byte(s), false, uint8(10), false)
		f.Add([]byte(s), true, uint8(30), true)
	}
	st, dir := spoolStore(f)
	conns := `
  - name: strict
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_line_length: 1000, max_message_size: 2000, soft_error_limit: 100000}
  - name: normalize
    bindings: ["127.0.0.2:0"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
    limits: {max_line_length: 1000, max_message_size: 2000, soft_error_limit: 100000}
`
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n"+conns), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	mem, spool := &bodyQueue{}, &bodyQueue{}
	servers := make([]*Server, 2)
	for i, q := range []*bodyQueue{mem, spool} {
		cfg := ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Routing: testTable(), Queue: q, MaxHeaderSize: 200}
		if i == 1 {
			cfg.Spool, cfg.SpoolThreshold = st.NewSpool, 64
		}
		s, err := NewServer(cfg)
		if err != nil {
			f.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			f.Fatal(err)
		}
		s.Serve()
		servers[i] = s
		f.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Shutdown(ctx)
		})
	}
	f.Fuzz(func(t *testing.T, msg []byte, bdat bool, chunk uint8, normalize bool) {
		k := 0
		if normalize {
			k = 1
		}
		var got [2]stored
		for i, s := range servers {
			d := dialConnector(t, s, k)
			d.expect("220")
			d.cmd("EHLO c", "250")
			got[i] = sendOne(d, []*bodyQueue{mem, spool}[i], msg, bdat, int(chunk)+1)
			d.cmd("QUIT", "221")
		}
		if got[0] != got[1] {
			t.Fatalf("%q (bdat %v, chunk %d, normalize %v): spooled %q / %q, in memory %q / %q",
				msg, bdat, int(chunk)+1, normalize, got[1].reply, got[1].body, got[0].reply, got[0].body)
		}
		// The accepted spooled messages' files are the queue's; clear them.
		for _, e := range spoolFiles(t, dir) {
			os.Remove(filepath.Join(dir, e))
		}
	})
}

// A message whose header section ends at a line that is not a header
// field (no empty line) is stored as sent behind the Received field, in
// memory and spooled alike, with the empty line put where the section
// ended: the lines after that end are body, so the header firewall
// leaves an organisation id or Return-Path there alone (while the same
// fields in the header section go), and no reader can take them for
// header fields.
func TestHeaderSectionEndsAtNonField(t *testing.T) {
	st, _ := spoolStore(t)
	conns := connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)
	forged := "X-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\n"
	body := "Hello, this is not a header\r\n" + forged + "Return-Path: <x@example.org>\r\n" + strings.Repeat("text of the body\r\n", 300)
	for _, threshold := range []int64{1 << 30, 1024} {
		q := &bodyQueue{}
		s := startSpoolServer(t, q, st, threshold, 4096, conns...)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		// The empty line that ends the header section is put where the
		// section ended, so the forged lines below it read as body.
		for _, c := range []struct{ msg, want string }{
			{"Subject: a\r\n" + body, "Subject: a\r\n\r\n" + body},
			{forged + "Return-Path: <y@example.org>\r\nSubject: a\r\n" + body, "Subject: a\r\n\r\n" + body},
			{body, "\r\n" + body},
			{"Subject: no body\r\n", "Subject: no body\r\n\r\n"}, // a section alone gets it too (TestHeaderOnlyMessageGetsEmptyLine)
		} {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send(c.msg + ".\r\n")
			if r := d.reply(); !strings.HasPrefix(r, "250") {
				t.Fatalf("threshold %d: %.60q: %s", threshold, c.msg, r)
			}
			q.mu.Lock()
			got, m := string(q.bodies[len(q.bodies)-1]), q.msgs[len(q.msgs)-1]
			q.mu.Unlock()
			if !strings.HasPrefix(got, "Received: ") || !strings.HasSuffix(got, "\r\n"+c.want) || strings.Count(got, "\r\n") != strings.Count(c.want, "\r\n")+4 ||
				strings.Contains(c.want, "Hello") && !strings.Contains(got, "\r\n\r\nHello, this is not a header\r\n") {
				t.Errorf("threshold %d: stored %.300q, want the trace field and %.100q", threshold, got, c.want)
			}
			if m.OrgID == "0123456789abcdef0123456789abcdef" {
				t.Errorf("threshold %d: the organisation id came from an anonymous client", threshold)
			}
		}
	}
}
