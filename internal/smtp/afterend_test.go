package smtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// endRecorder records what a connection's verb layer framed and handed
// go-smtp, and tells when go-smtp was told the stream ended (after which
// go-smtp's connection goroutine handles nothing more).
type endRecorder struct {
	mu    sync.Mutex
	units []string // "L<line>", "G<bytes handed to go-smtp>", …
	ended chan struct{}
	once  sync.Once
}

func (r *endRecorder) record(kind byte, b []byte) {
	r.mu.Lock()
	r.units = append(r.units, string(kind)+string(b))
	r.mu.Unlock()
	if kind == traceEnded {
		r.once.Do(func() { close(r.ended) })
	}
}

// handedAfter returns what go-smtp was handed after the line first (a
// "G" unit), the line itself excluded.
func (r *endRecorder) handedAfter(first string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	seen := false
	for _, u := range r.units {
		if u[0] != traceGoSMTP {
			continue
		}
		if seen {
			out = append(out, u[1:])
		} else if u[1:] == first {
			seen = true
		}
	}
	return out
}

// endServer is a server whose log goes to a buffer and whose
// connections' verb layers are recorded (recs gets each connection's
// recorder as it is accepted).
type endServer struct {
	*Server
	log  *syncBuffer
	q    *fakeQueue
	recs chan *endRecorder
}

func startEndServer(t *testing.T, yaml string, cfg ServerConfig) *endServer {
	t.Helper()
	es := &endServer{log: &syncBuffer{}, q: &fakeQueue{}, recs: make(chan *endRecorder, 64)}
	cfg.Hostname, cfg.Connectors, cfg.Routing, cfg.Queue = "mx.test", connectors(t, yaml), testTable(), es.q
	cfg.Log = slog.New(slog.NewTextHandler(es.log, nil))
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	for _, b := range s.bindings {
		b.trace = func() func(byte, []byte) {
			r := &endRecorder{ended: make(chan struct{})}
			es.recs <- r
			return r.record
		}
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	es.Server = s
	return es
}

// session sends script in one write and returns every reply line the
// client read up to the end of the stream, and the connection's
// recorder once go-smtp was told the stream ended.
func (es *endServer) session(t *testing.T, script string, during func(lines []string, r *bufio.Reader) []string) ([]string, *endRecorder) {
	t.Helper()
	return es.sessionThen(t, script, during, "")
}

// sessionThen is session, with rest sent after during returned.
func (es *endServer) sessionThen(t *testing.T, script string, during func(lines []string, r *bufio.Reader) []string, rest string) ([]string, *endRecorder) {
	t.Helper()
	c, err := net.DialTimeout("tcp", es.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var rec *endRecorder
	select {
	case rec = <-es.recs:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection recorded")
	}
	if _, err := c.Write([]byte(script)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var lines []string
	if during != nil {
		lines = during(lines, r)
	}
	if rest != "" {
		c.Write([]byte(rest)) // the connection may be gone already
	}
	for {
		l, err := r.ReadString('\n')
		if l != "" {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		if err != nil {
			if err != io.EOF {
				t.Fatalf("the session did not end with the end of the stream: %v (read %q)", err, lines)
			}
			break
		}
	}
	// The client ends its side once it read the end of the server's:
	// the server's lingering close (linger) ends at once.
	c.(*net.TCPConn).CloseWrite()
	select {
	case <-rec.ended:
	case <-time.After(10 * time.Second):
		t.Fatalf("go-smtp was never told the stream ended (read %q)", lines)
	}
	return lines, rec
}

// finals keeps the last line of each reply (the code and text a client
// acts on).
func finals(lines []string) []string {
	var out []string
	for _, l := range lines {
		if len(l) < 4 || l[3] != '-' {
			out = append(out, l)
		}
	}
	return out
}

// noPanic checks that no session logged a panic since the log had
// before lines mentioning one.
func (es *endServer) noPanic(t *testing.T, before int) {
	t.Helper()
	if p := es.log.lines("panic"); len(p) > before {
		t.Errorf("a session panicked: %q", p[before:])
	}
}

func (es *endServer) panics() int { return len(es.log.lines("panic")) }

const endConnector = `
  - name: front
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`

const greeting220 = "220 mx.test ESMTP Service Ready"

// SMTP-5 (one framing authority): once QUIT is answered the session is
// over, and no command pipelined after it in the same packet reaches
// go-smtp — whose session is gone then (a MAIL or DATA there panicked
// in go-smtp, rt26b F1) — whatever the greeting and the command: the
// client gets the 221 and the end of the stream, and nothing is logged
// but the session's own lines.
func TestNothingRunsAfterQuit(t *testing.T) {
	es := startEndServer(t, endConnector, ServerConfig{})
	for _, greet := range []string{"EHLO x.test", "HELO x.test"} {
		for _, after := range []string{
			"MAIL FROM:<a@x.test>", "RCPT TO:<b@example.test>", "DATA", "BDAT 3 LAST\r\nabc",
			"NOOP", "RSET", "EHLO y.test", "HELO y.test", "QUIT", "VRFY b", "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
			"STARTTLS", "XSHADOW hub2", "FOO",
		} {
			t.Run(greet[:4]+"/"+strings.Fields(after)[0], func(t *testing.T) {
				before := es.panics()
				lines, rec := es.session(t, greet+"\r\nQUIT\r\n"+after+"\r\n", nil)
				want := []string{greeting220, "250", "221 2.0.0 Bye"}
				got := finals(lines)
				if len(got) != len(want) || got[0] != want[0] || !strings.HasPrefix(got[1], "250 ") || got[2] != want[2] {
					t.Errorf("replies %q, want %q and the end of the stream", got, want)
				}
				if h := rec.handedAfter("QUIT\r\n"); len(h) > 0 {
					t.Errorf("go-smtp was handed %q after QUIT", h)
				}
				es.noPanic(t, before)
			})
		}
	}
	// Inside a transaction: the message pipelined after QUIT is not
	// taken (the client was told Bye; its DATA was never answered).
	before := es.panics()
	lines, rec := es.session(t, "EHLO x.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nQUIT\r\n"+
		"DATA\r\nSubject: after quit\r\n\r\nhi\r\n.\r\nMAIL FROM:<a@x.test>\r\n", nil)
	got := finals(lines)
	if len(got) != 5 || got[4] != "221 2.0.0 Bye" {
		t.Errorf("replies %q, want 220, 250, 250, 250, 221 and the end of the stream", got)
	}
	if h := rec.handedAfter("QUIT\r\n"); len(h) > 0 {
		t.Errorf("go-smtp was handed %q after QUIT", h)
	}
	if n := es.q.count(); n != 0 {
		t.Errorf("%d messages queued from after QUIT", n)
	}
	es.noPanic(t, before)
}

// SMTP-5, SMTP-8: each way the verb layer ends a session (the error
// limit, the junk limit, a line too long) answers 421 and then nothing:
// the commands pipelined after it in the same packet are read and
// dropped, never handed to go-smtp, and no message is taken from them.
func TestNothingRunsAfterTheLayerEndsTheSession(t *testing.T) {
	es := startEndServer(t, `
  - name: front
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 2, max_junk_commands: 3, max_line_length: 1000}
`, ServerConfig{})
	txn := "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"
	for _, tc := range []struct {
		name, script, last, after string
	}{
		{"errors", "EHLO x.test\r\nFOO\r\nBAR\r\n" + txn, replyErrorLimit, "BAR\r\n"},
		{"junk", "EHLO x.test\r\nNOOP\r\nNOOP\r\nNOOP\r\n" + txn, replyJunkLimit, "NOOP\r\n"},
		{"line", "EHLO x.test\r\nNOOP " + strings.Repeat("x", 1100) + "\r\n" + txn, replyLineTooLong, "EHLO x.test\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := es.panics()
			lines, rec := es.session(t, tc.script, nil)
			got := finals(lines)
			if len(got) == 0 || got[len(got)-1] != tc.last {
				t.Errorf("replies %q, want the last %q and the end of the stream", got, tc.last)
			}
			units := rec.handedAfter(tc.after)
			for _, u := range units {
				if u != "NOOP\r\n" { // the junk case's NOOPs before the limit
					t.Errorf("go-smtp was handed %q after the session ended", u)
				}
			}
			if n := es.q.count(); n != 0 {
				t.Errorf("%d messages queued after the session ended", n)
			}
			es.noPanic(t, before)
		})
	}
}

// SMTP-5, SMTP-8: a session ended by AUTH's failure limit (421 4.7.0
// from the session, through go-smtp) takes nothing pipelined after the
// 421: the anonymous MAIL, RCPT and DATA that followed it queued a
// message the client was told nothing of.
func TestNothingRunsAfterAuthLimit(t *testing.T) {
	creds := credsFile(t)
	es := startEndServer(t, fmt.Sprintf(`
  - name: front
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_auth_failures: 1}
`, creds), ServerConfig{})
	before := es.panics()
	lines, rec := es.session(t, "EHLO x.test\r\n"+plainAliceBad+"\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\n"+
		"DATA\r\nSubject: after 421\r\n\r\nhi\r\n.\r\nQUIT\r\n", nil)
	got := finals(lines)
	if len(got) != 3 || !strings.HasPrefix(got[2], "421 ") {
		t.Errorf("replies %q, want 220, 250, 421 and the end of the stream", got)
	}
	if h := rec.handedAfter(plainAliceBad + "\r\n"); len(h) > 0 {
		t.Errorf("go-smtp was handed %q after the 421", h)
	}
	if n := es.q.count(); n != 0 {
		t.Errorf("%d messages queued after the 421", n)
	}
	es.noPanic(t, before)
}

// rcpt421 refuses the recipient "stop@example.test" with 421: the
// session ends (filter.go).
type rcpt421 struct{}

func (rcpt421) Name() string { return "stop" }
func (rcpt421) Rcpt(_ context.Context, _ *ConnInfo, _, to string) Verdict {
	if strings.HasPrefix(to, "stop@") {
		return Verdict{Reply: &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Stop"}}
	}
	return Verdict{}
}

// SMTP-5: a check's 421 ends the session (its connection closes after
// the reply); the DATA and body pipelined after it are not taken, though
// the transaction had a recipient: the client was told 421.
func TestNothingRunsAfterCheck421(t *testing.T) {
	es := startEndServer(t, endConnector, ServerConfig{
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{rcpt421{}}, nil }})
	before := es.panics()
	lines, rec := es.session(t, "EHLO x.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<stop@example.test>\r\n"+
		"DATA\r\nSubject: after 421\r\n\r\nhi\r\n.\r\nQUIT\r\n", nil)
	got := finals(lines)
	if len(got) != 5 || got[4] != "421 4.7.0 Stop" {
		t.Errorf("replies %q, want 220, 250, 250, 250, 421 and the end of the stream", got)
	}
	if h := rec.handedAfter("RCPT TO:<stop@example.test>\r\n"); len(h) > 0 {
		t.Errorf("go-smtp was handed %q after the 421", h)
	}
	if n := es.q.count(); n != 0 {
		t.Errorf("%d messages queued after the 421", n)
	}
	es.noPanic(t, before)
}

// heloHold holds every EHLO/HELO in its check until release is closed
// (or the check's context ends); held is told each time one waits.
type heloHold struct {
	held    chan struct{}
	release chan struct{}
}

func (heloHold) Name() string { return "hold" }
func (h heloHold) Helo(ctx context.Context, _ *ConnInfo, _ string) Verdict {
	h.held <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return Verdict{}
}

// SMTP-5: a drain (a stop) ends a session outside a mail transaction
// with 421 4.3.2 from its own goroutine, while the session's goroutine
// may be busy with a command (here its EHLO, held in a check); the
// commands the client pipelined behind, already in the layer's buffer,
// are not run once that goroutine goes on: no message is queued from a
// session that was told 421.
func TestNothingRunsAfterDrain(t *testing.T) {
	h := heloHold{held: make(chan struct{}, 1), release: make(chan struct{})}
	es := startEndServer(t, endConnector, ServerConfig{
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{h}, nil }})
	script := "EHLO x.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\n" +
		"DATA\r\nSubject: after 421\r\n\r\nhi\r\n.\r\nQUIT\r\n"
	before := es.panics()
	drained := make(chan struct{})
	lines, rec := es.session(t, script, func(lines []string, r *bufio.Reader) []string {
		select {
		case <-h.held: // the EHLO waits in the check, the rest of the script read or on its way
		case <-time.After(10 * time.Second):
			t.Fatal("the EHLO never reached the check")
		}
		go func() {
			defer close(drained)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			es.Drain(ctx)
		}()
		// The 421 and the end of the stream come while the EHLO is held;
		// then the session's goroutine goes on.
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				lines = append(lines, strings.TrimRight(l, "\r\n"))
			}
			if err != nil {
				break
			}
		}
		close(h.release)
		return lines
	})
	<-drained
	got := finals(lines)
	want := []string{greeting220, "421 4.3.2 Service shutting down, try again later"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies %q, want %q and the end of the stream", got, want)
	}
	if h := rec.handedAfter("EHLO x.test\r\n"); len(h) > 0 {
		t.Errorf("go-smtp was handed %q after the drain's 421", h)
	}
	if n := es.q.count(); n != 0 {
		t.Errorf("%d messages queued after the drain's 421", n)
	}
	es.noPanic(t, before)
}

// SMTP-5: the other ends of a session and the replies that do not end
// one, each with commands pipelined behind in the same packet: a TLS
// handshake that fails ends the session (what the client sent as its
// handshake is no command); a message refused for a bare LF (554 5.6.0)
// and a malformed BDAT (501, the transfer fails) leave the session
// going, and its QUIT then ends it with nothing run after.
func TestNothingRunsAfterOtherEnds(t *testing.T) {
	cert, key, _ := testCert(t)
	es := startEndServer(t, fmt.Sprintf(`
  - name: front
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key), ServerConfig{})
	txn := "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\n"
	for _, tc := range []struct {
		name, first, rest string // rest is sent once first's replies are read
		want              []string
		after             string // nothing is handed go-smtp after this line
	}{
		{"tls", "EHLO x.test\r\nSTARTTLS\r\n", txn + "DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
			[]string{greeting220, "250", "220 2.0.0 Ready to start TLS"}, "EHLO x.test\r\n"},
		{"bare LF", "EHLO x.test\r\n" + txn + "DATA\r\nSubject: x\r\n\r\nhi\nthere\r\n.\r\nQUIT\r\n" + txn + "DATA\r\n", "",
			[]string{greeting220, "250", "250", "250", "354", "554", "221 2.0.0 Bye"}, "QUIT\r\n"},
		{"bdat", "EHLO x.test\r\n" + txn + "BDAT 3\r\nabcBDAT x\r\nQUIT\r\n" + txn + "BDAT 3 LAST\r\nabc", "",
			[]string{greeting220, "250", "250", "250", "250", "501", "221 2.0.0 Bye"}, "QUIT\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := es.panics()
			var during func([]string, *bufio.Reader) []string
			if tc.rest != "" {
				during = func(lines []string, r *bufio.Reader) []string {
					for len(finals(lines)) < len(tc.want) {
						l, err := r.ReadString('\n')
						if err != nil {
							t.Fatalf("read %q: %v", lines, err)
						}
						lines = append(lines, strings.TrimRight(l, "\r\n"))
					}
					return lines
				}
			}
			lines, rec := es.sessionThen(t, tc.first, during, tc.rest)
			got := finals(lines)
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tc.want[i]) // a code, or the whole line
			}
			if !ok {
				t.Errorf("replies %q, want %q and the end of the stream", got, tc.want)
			}
			if h := rec.handedAfter(tc.after); len(h) > 0 {
				t.Errorf("go-smtp was handed %q after the session ended", h)
			}
			if n := es.q.count(); n != 0 {
				t.Errorf("%d messages queued", n)
			}
			es.noPanic(t, before)
		})
	}
}

// SMTP-5, SR-15: a shadow session (XSHADOW answered 250) ended by its
// QUIT runs nothing pipelined behind it either: no XQUERYDISCARD is
// answered (no discard notification is handed out, so none is taken for
// delivered), no shadowed message is taken, nothing panics.
func TestNothingRunsAfterShadowQuit(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1", "s2"}}}
	es := startEndServer(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, credsFile(t)), ServerConfig{Shadow: sh, ShadowEnabled: true})
	before := es.panics()
	lines, rec := es.session(t, "EHLO hub2.test\r\n"+authHub2+"\r\nXSHADOW hub2\r\nQUIT\r\n"+
		"XQUERYDISCARD 2\r\nMAIL FROM:<a@example.org> XSHADOW=hub2.m1\r\nRCPT TO:<b@example.test>\r\n"+
		"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nXQUERYDISCARD 2\r\n", nil)
	got := finals(lines)
	if len(got) != 5 || !strings.HasPrefix(got[2], "235") || !strings.HasPrefix(got[3], "250 db-") || got[4] != "221 2.0.0 Bye" {
		t.Errorf("replies %q, want 220, 250, 235, 250 db-…, 221 and the end of the stream", got)
	}
	if h := rec.handedAfter("QUIT\r\n"); len(h) > 0 {
		t.Errorf("go-smtp was handed %q after QUIT", h)
	}
	sh.mu.Lock()
	left := len(sh.notes["hub2"])
	sh.mu.Unlock()
	if left != 2 {
		t.Errorf("%d of 2 discard notifications left after the session", left)
	}
	if n := es.q.count(); n != 0 {
		t.Errorf("%d messages queued after QUIT", n)
	}
	es.noPanic(t, before)
}
