package milter

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gomilter "github.com/d--j/go-milter"
)

// script is what the in-test milter (go-milter's server side, an
// implementation independent of umbra's client) answers at each stage,
// and what it saw.
type script struct {
	mu     sync.Mutex
	events []string
	macros map[string]string

	connect, helo, mail, rcpt, header, body, eom *gomilter.Response
	mods                                         func(m gomilter.Modifier) error
	block                                        chan struct{} // EOM waits for it
}

func (s *script) saw(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *script) seen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, "|")
}

func or(r *gomilter.Response) *gomilter.Response {
	if r == nil {
		return gomilter.RespContinue
	}
	return r
}

type scriptMilter struct {
	gomilter.NoOpMilter
	s *script
}

func (m *scriptMilter) Connect(host, family string, port uint16, addr string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("connect " + host + " " + family + " " + addr)
	return or(m.s.connect), nil
}
func (m *scriptMilter) Helo(name string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("helo " + name)
	return or(m.s.helo), nil
}
func (m *scriptMilter) MailFrom(from, args string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("mail " + from)
	return or(m.s.mail), nil
}
func (m *scriptMilter) RcptTo(to, args string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("rcpt " + to)
	return or(m.s.rcpt), nil
}
func (m *scriptMilter) Header(name, value string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("header " + name + "=" + value)
	return or(m.s.header), nil
}
func (m *scriptMilter) Headers(_ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("eoh")
	return gomilter.RespContinue, nil
}
func (m *scriptMilter) BodyChunk(b []byte, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw(fmt.Sprintf("body %q", b))
	return or(m.s.body), nil
}
func (m *scriptMilter) EndOfMessage(mod gomilter.Modifier) (*gomilter.Response, error) {
	m.s.saw("eom")
	if m.s.block != nil {
		<-m.s.block
	}
	m.s.mu.Lock()
	m.s.macros = map[string]string{}
	for _, n := range []string{"i", "j", "{daemon_name}", "{client_addr}", "{mail_addr}", "{rcpt_addr}", "{auth_authen}"} {
		m.s.macros[n] = mod.Get(n)
	}
	m.s.mu.Unlock()
	if m.s.mods != nil {
		if err := m.s.mods(mod); err != nil {
			return nil, err
		}
	}
	return or(m.s.eom), nil
}
func (m *scriptMilter) Abort(_ gomilter.Modifier) error {
	m.s.saw("abort")
	return nil
}

// startMilter runs the scripted milter on loopback and returns its
// address for the configuration.
func startMilter(t testing.TB, s *script) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return &scriptMilter{s: s} }),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptAddRcpt|gomilter.OptRemoveRcpt|
			gomilter.OptChangeBody|gomilter.OptQuarantine), gomilter.WithProtocol(gomilter.OptSkip))
	go srv.Serve(ln)
	t.Cleanup(func() {
		if s.block != nil {
			select {
			case <-s.block:
			default:
				close(s.block)
			}
		}
		srv.Close()
	})
	return "inet:" + ln.Addr().String()
}

func milterConf(addr, extra string) string {
	return "      - {name: test, address: \"" + addr + "\"" + extra + "}\n"
}

const msg = "From: a@sender.test\r\nSubject: hello\r\nX-Old: one\r\nX-Old: two\r\n\r\nbody line\r\n"

func reject(code uint16, text string) *gomilter.Response {
	r, err := gomilter.RejectWithCodeAndReason(code, text)
	if err != nil {
		panic(err)
	}
	return r
}

// Every event reaches the milter at its time, with Postfix's macros,
// and every modification lands in the queued message.
func TestMilterEveryModification(t *testing.T) {
	s := &script{mods: func(m gomilter.Modifier) error {
		for _, err := range []error{
			m.AddHeader("X-Added", "yes\n\tfolded"),
			m.InsertHeader(0, "X-First", "top"),
			m.ChangeHeader(1, "Subject", "changed"),
			m.ChangeHeader(1, "X-Old", ""), // delete the first X-Old; the second is now the first
			m.AddRecipient("<new@example.test>", ""),
			m.DeleteRecipient("<u@example.test>"),
			m.ReplaceBody(strings.NewReader("new body\nsecond line\n")),
			m.Quarantine("held for review"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	}}
	q := &fakeQueue{}
	mta := startMTA(t, q, milterConf(startMilter(t, s), ""))
	d := dial(t, mta)
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test", "v@example.test"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data: %q", got)
	}
	want := `connect unknown tcp4 127.0.0.1|helo client.test|mail a@sender.test|rcpt u@example.test|rcpt v@example.test|` +
		`header From=a@sender.test|header Subject=hello|header X-Old=one|header X-Old=two|eoh|body "body line\r\n"|eom`
	if got := s.seen(); got != want {
		t.Fatalf("milter saw\n%s\nwant\n%s", got, want)
	}
	m, body := q.last(t)
	wantContent := "X-First: top\r\nFrom: a@sender.test\r\nSubject: changed\r\nX-Old: two\r\nX-Added: yes\r\n\tfolded\r\n\r\nnew body\r\nsecond line\r\n"
	if !strings.HasSuffix(body, wantContent) || !strings.HasPrefix(body, "Received: ") {
		t.Fatalf("queued body\n%q\nwant it to end in\n%q", body, wantContent)
	}
	var rcpts []string
	for _, r := range m.Rcpts {
		rcpts = append(rcpts, r.Addr)
	}
	if strings.Join(rcpts, ",") != "v@example.test,new@example.test" {
		t.Fatalf("recipients %v", rcpts)
	}
	if m.Quarantine != "held for review" {
		t.Fatalf("quarantine %q", m.Quarantine)
	}
	s.mu.Lock()
	macros := s.macros
	s.mu.Unlock()
	if macros["i"] != m.ID.String() || macros["j"] != "mx.test" || macros["{daemon_name}"] != "internet" ||
		macros["{client_addr}"] != "127.0.0.1" || macros["{mail_addr}"] != "a@sender.test" {
		t.Fatalf("macros %v (queue id %s)", macros, m.ID)
	}
}

// Each refusal a milter can give, at each stage, is the command's reply.
func TestMilterRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      *script
		greet  string // reply to EHLO
		mail   string
		rcpt   string
		eod    string // reply to the end of data
		queued int
	}{
		{name: "reject at connect", s: &script{connect: gomilter.RespReject}, greet: "554 5.7.1"},
		{name: "tempfail at helo", s: &script{helo: gomilter.RespTempFail}, greet: "451 4.7.1"},
		{name: "reject at mail", s: &script{mail: gomilter.RespReject}, greet: "250", mail: "550 5.7.1 Command rejected"},
		{name: "reply code at rcpt", s: &script{rcpt: reject(550, "5.1.1 No such user here")}, greet: "250", mail: "250", rcpt: "550 5.1.1 No such user here"},
		{name: "tempfail at header", s: &script{header: gomilter.RespTempFail}, greet: "250", mail: "250", rcpt: "250", eod: "451 4.7.1"},
		{name: "reject in body", s: &script{body: gomilter.RespReject}, greet: "250", mail: "250", rcpt: "250", eod: "550 5.7.1 Message content rejected"},
		{name: "multi-line reply code at eom", s: &script{eom: reject(554, "5.7.1 first line\r\n100% spam")}, greet: "250", mail: "250", rcpt: "250",
			eod: "554-5.7.1 first line|554 5.7.1 100% spam"},
		// rt19 fixg F4: a control character in the text is escaped
		// \xNN (the reply backstop), the refusal kept.
		{name: "reply code with ESC at rcpt", s: &script{rcpt: reject(550, "5.7.1 esc\x1b[31m")}, greet: "250", mail: "250", rcpt: "550 5.7.1 esc\\x1b[31m"},
		{name: "discard at eom", s: &script{eom: gomilter.RespDiscard}, greet: "250", mail: "250", rcpt: "250", eod: "250"},
		{name: "discard at rcpt", s: &script{rcpt: gomilter.RespDiscard}, greet: "250", mail: "250", rcpt: "250", eod: "250"},
		{name: "accept at mail", s: &script{mail: gomilter.RespAccept, header: gomilter.RespReject}, greet: "250", mail: "250", rcpt: "250", eod: "250", queued: 1},
		{name: "skip at rcpt", s: &script{rcpt: gomilter.RespSkip}, greet: "250", mail: "250", rcpt: "250", eod: "250", queued: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			d := dial(t, startMTA(t, q, milterConf(startMilter(t, tc.s), "")))
			if d.cmd("EHLO client.test", tc.greet); tc.greet != "250" {
				return
			}
			if got := d.cmd("MAIL FROM:<a@sender.test>", tc.mail); !strings.HasPrefix(tc.mail, "250") {
				if got != tc.mail {
					t.Fatalf("MAIL: %q, want %q", got, tc.mail)
				}
				return
			}
			if got := d.cmd("RCPT TO:<u@example.test>", tc.rcpt); !strings.HasPrefix(tc.rcpt, "250") {
				if got != tc.rcpt {
					t.Fatalf("RCPT: %q, want %q", got, tc.rcpt)
				}
				return
			}
			d.cmd("DATA", "354")
			d.conn.Write([]byte(msg + ".\r\n"))
			if got := d.reply(); !strings.HasPrefix(got, tc.eod) {
				t.Fatalf("end of data: %q, want %q", got, tc.eod)
			}
			if q.count() != tc.queued {
				t.Fatalf("queued %d, want %d", q.count(), tc.queued)
			}
			if tc.name == "accept at mail" && strings.Contains(tc.s.seen(), "header") {
				t.Fatalf("the milter accepted the message at MAIL but still got %s", tc.s.seen())
			}
		})
	}
}

// rt19 F9: a multi-line reply keeps its enhanced status code on every
// line the client reads, at RCPT as at the end of data, and every line
// (each cut to a reply line's 512 octets).
func TestMilterMultiLineReply(t *testing.T) {
	long := strings.Repeat("x", 900)
	s := &script{rcpt: reject(550, "5.1.1 no such user\r\nsee "+long+"\r\nlast line")}
	d := dial(t, startMTA(t, &fakeQueue{}, milterConf(startMilter(t, s), "")))
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	got := d.cmd("RCPT TO:<u@example.test>", "550")
	lines := strings.Split(got, "|")
	if len(lines) != 3 || lines[0] != "550-5.1.1 no such user" || !strings.HasPrefix(lines[1], "550-5.1.1 see xxx") ||
		lines[2] != "550 5.1.1 last line" {
		t.Fatalf("RCPT: %q", got)
	}
	for _, l := range lines {
		if len(l)+2 > 512 {
			t.Errorf("a reply line of %d octets", len(l)+2)
		}
	}
}

// A transaction that ends before the end of data is aborted on the
// milter (SMFIC_ABORT), and the next one is checked afresh.
func TestMilterAbortOnReset(t *testing.T) {
	s := &script{}
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(startMilter(t, s), "")))
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("RSET", "250")
	if got := d.send("b@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data: %q", got)
	}
	if got := s.seen(); !strings.Contains(got, "rcpt u@example.test|abort|mail b@sender.test") {
		t.Fatalf("milter saw %s", got)
	}
}

// The failure policy: a milter that is down or too slow gets 451 4.7.1
// (tempfail) or is left out (accept).
func TestMilterFailurePolicy(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "inet:" + ln.Addr().String()
	ln.Close() // nothing listens there now

	t.Run("down, tempfail", func(t *testing.T) {
		d := dial(t, startMTA(t, &fakeQueue{}, milterConf(down, "")))
		d.cmd("EHLO client.test", "451 4.7.1 Service unavailable - try again later")
	})
	t.Run("down, accept", func(t *testing.T) {
		q := &fakeQueue{}
		d := dial(t, startMTA(t, q, milterConf(down, ", on_failure: accept")))
		d.cmd("EHLO client.test", "250")
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") || q.count() != 1 {
			t.Fatalf("end of data %q, queued %d", got, q.count())
		}
	})
	t.Run("slow, tempfail", func(t *testing.T) {
		s := &script{block: make(chan struct{}), mods: func(m gomilter.Modifier) error { return m.AddHeader("X-Late", "yes") }}
		q := &fakeQueue{}
		d := dial(t, startMTA(t, q, milterConf(startMilter(t, s), ", eom_timeout: 200ms")))
		d.cmd("EHLO client.test", "250")
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") || q.count() != 0 {
			t.Fatalf("end of data %q, queued %d", got, q.count())
		}
		// The rest of the session gets the same answer (Postfix's
		// milter_default_action after a failure).
		d.cmd("MAIL FROM:<a@sender.test>", "451 4.7.1")
	})
	t.Run("slow, accept", func(t *testing.T) {
		s := &script{block: make(chan struct{}), mods: func(m gomilter.Modifier) error { return m.AddHeader("X-Late", "yes") }}
		q := &fakeQueue{}
		d := dial(t, startMTA(t, q, milterConf(startMilter(t, s), ", eom_timeout: 200ms, on_failure: accept")))
		d.cmd("EHLO client.test", "250")
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") || q.count() != 1 {
			t.Fatalf("end of data %q, queued %d", got, q.count())
		}
		if _, body := q.last(t); strings.Contains(body, "X-Late") {
			t.Fatal("a timed-out milter's header was applied")
		}
	})
}

// A milter on a unix socket (unix:/path) is reached the same way.
func TestMilterUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "milter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "m.sock") // short: a socket path has 108 octets
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &script{mods: func(m gomilter.Modifier) error { return m.AddHeader("X-Unix", "yes") }}
	srv := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return &scriptMilter{s: s} }), gomilter.WithActions(gomilter.OptAddHeader))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf("unix:"+path, "")))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("end of data %q", got)
	}
	if _, body := q.last(t); !strings.Contains(body, "\r\nX-Unix: yes\r\n\r\n") {
		t.Fatalf("body %q", body)
	}
}
