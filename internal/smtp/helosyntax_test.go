package smtp

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rt16b-F5: the EHLO/HELO argument is a domain or an address literal
// (RFC 5321 §4.1.1.1, §4.1.3; SMTP-1). Anything else is refused with
// 501 5.5.4 and changes nothing; any syntactically valid name is taken,
// whether or not it matches the client's address. What the session took
// is what umbra's Received field shows.
func TestGreetingArgumentSyntax(t *testing.T) {
	long := strings.Repeat("a", 64)
	refused := []struct{ arg, why string }{
		{"[300.1.1.1]", "address literal"},
		{"[1.2.3]", "address literal"},
		{"[1.2.3.4.5]", "address literal"},
		{"[1.2.3.4", "address literal"},
		{"[]", "address literal"},
		{"[IPv6:1.2.3.4]", "address literal"},
		{"[IPv6:fe80::1%eth0]", "address literal"},
		{"[IPv6:::1::2]", "address literal"},
		{"[x-tag:whatever]", "address literal"},
		{"[::1]", "address literal"},
		{"a..b", "domain"},
		{".a.b", "domain"},
		{"a.b.", "domain"},
		{"-a.b", "domain"},
		{"a-.b", "domain"},
		{long + ".example", "domain"},
		{strings.Repeat("abcdefg.", 32) + "example", "domain"},
		{"a(b", "domain"},
		{"a;b", "domain"},
		{"a\\b", "domain"},
		{"a\tb", "domain"},
		{"a\x01b", "domain"},
		{"x.test SIZE=100", "one name"},
		{"x.test x.test", "one name"},
		{"x\xc3\xa9.example", "A-label"},
		{"a\xffb", "A-label"},
	}
	for _, verb := range []string{"EHLO", "HELO"} {
		for _, tc := range refused {
			t.Run(fmt.Sprintf("%s %q", verb, tc.arg), func(t *testing.T) {
				q := &fakeQueue{}
				s := startServer(t, q, connectors(t, anon)...)
				d := dial(t, s, "")
				d.expect("220 mx.test")
				got := d.cmd(verb+" "+tc.arg, "501 5.5.4 ")
				if !strings.Contains(got, tc.why) {
					t.Fatalf("%s %q: %q does not say %q", verb, tc.arg, got, tc.why)
				}
				d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1") // no session was made
				d.cmd(verb+" good.example", "250")
				d.cmd("MAIL FROM:<a@example.org>", "250")
				d.cmd(verb+" "+tc.arg, "501 5.5.4 ") // a later one changes nothing either
				d.cmd("RCPT TO:<bob@example.test>", "250")
				d.cmd("DATA", "354")
				d.cmd("Subject: x\r\n\r\nbody\r\n.", "250 2.0.0")
				if q.count() != 1 {
					t.Fatalf("%d messages submitted", q.count())
				}
				if body := string(q.bodies[0]); !strings.HasPrefix(body, "Received: from good.example ([127.0.0.1])") {
					t.Fatalf("trace field: %q", body[:min(len(body), 80)])
				}
			})
		}
	}
	taken := []string{"c", "client.example", "CLIENT.Example", "a-b.example", "1host.example", "xn--x-bga.example",
		"a_b.example", "[127.0.0.1]", "[192.0.2.1]", "[IPv6:::1]", "[ipv6:2001:db8::1]", "[IPv6:::ffff:192.0.2.1]",
		"other.example.net"} // never refused for not matching the client's address
	for _, verb := range []string{"EHLO", "HELO"} {
		for _, name := range taken {
			t.Run(verb+" "+name, func(t *testing.T) {
				q := &fakeQueue{}
				s := startServer(t, q, connectors(t, anon)...)
				d := dial(t, s, "")
				d.expect("220 mx.test")
				d.cmd(verb+" "+name, "250")
				d.cmd("MAIL FROM:<a@example.org>", "250")
				d.cmd("RCPT TO:<bob@example.test>", "250")
				d.cmd("DATA", "354")
				d.cmd("Subject: x\r\n\r\nbody\r\n.", "250 2.0.0")
				if q.count() != 1 {
					t.Fatalf("%d messages submitted", q.count())
				}
				if body, want := string(q.bodies[0]), "Received: from "+name+" ([127.0.0.1])"; !strings.HasPrefix(body, want) {
					t.Fatalf("trace field: %q, want prefix %q", body[:min(len(body), 80)], want)
				}
			})
		}
	}
}

// rt16b-F5: service extensions exist only after EHLO (RFC 5321 §2.2.1,
// §4.1.1.1; SMTP-1, W-2): after a plain HELO, STARTTLS, AUTH, BDAT and
// the shadow verbs (where offered) get 503 5.5.1 "Send EHLO first", as MAIL and RCPT
// parameters get 555 5.5.4. A well-formed BDAT's chunk is read and
// dropped (never taken for commands), and nothing is queued. STARTTLS
// before any greeting gets the same 503. An EHLO makes them available
// again.
func TestExtensionsNeedEHLO(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: secure
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_errors: 100, soft_error_limit: 100}
`, cert, key, creds))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("STARTTLS", "503 5.5.1 Send EHLO first")
	d.cmd("HELO c.example", "250")
	d.cmd("STARTTLS", "503 5.5.1 Send EHLO first")
	d.cmd(authAlice, "503 5.5.1 Send EHLO first")
	d.cmd("AUTH PLAIN", "503 5.5.1 Send EHLO first")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 6 LAST\r\nQUIT\r\n")
	d.expect("503 5.5.1 Send EHLO first")
	d.cmd("NOOP", "250") // the chunk's bytes were not a command
	d.cmd("BDAT x", "503 5.5.1 Send EHLO first")
	d.cmd("DATA", "354") // the transaction is as it was
	d.cmd("Subject: x\r\n\r\nbody\r\n.", "250")
	if q.count() != 1 {
		t.Fatalf("%d messages queued, want 1 (the DATA one)", q.count())
	}
	// This connector offers no shadow verbs at all: 502, as AUTH where
	// none is offered (rt24b F3; a connector that offers them answers
	// 503 here: TestShadowVerbsNotOfferedAre502InEveryState).
	for _, verb := range []string{"XSHADOW hub2", "XQUERYDISCARD 5", "XQDISCARD 5", "XQUERYHELD a-1", "XQUERYDROPPED 5", "XDISCARD a-1"} {
		d.cmd(verb, "502 5.5.1")
	}
	d.cmd("EHLO c.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 5 LAST\r\nhello")
	d.expect("250")
	if q.count() != 2 {
		t.Fatalf("%d messages queued after EHLO, want 2", q.count())
	}
	d.startTLS(pool)
	d.cmd("HELO c.example", "250")
	d.cmd(authAlice, "503 5.5.1 Send EHLO first")
	d.cmd("EHLO c.example", "250")
	d.cmd(authAlice, "235")
}

// The shadow verbs of a transport server's session are refused after a
// HELO that follows its EHLO too: the HELO ends the service extensions.
func TestShadowVerbsNeedEHLO(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("HELO hub2.test", "250")
	for _, verb := range []string{"XSHADOW hub2", "XQUERYDISCARD 5", "XQDISCARD 5", "XQUERYHELD a-1", "XQUERYDROPPED 5", "XDISCARD a-1"} {
		d.cmd(verb, "503 5.5.1 Send EHLO first")
	}
}

// traceName guards the Received field whatever the session holds: a
// name that is not a domain or an address literal (none passes the
// greeting's check) is written as "unknown", never raw.
func TestTraceNameOnlyValid(t *testing.T) {
	for in, want := range map[string]string{
		"client.example": "client.example", "[192.0.2.1]": "[192.0.2.1]", "[IPv6:::1]": "[IPv6:::1]",
		"a)(by;evil": "unknown", "x\xc3\xa9.example": "unknown", "a\xffb": "unknown", "": "unknown", "a..b": "unknown",
		"x y": "unknown",
	} {
		if got := traceName(in); got != want {
			t.Errorf("traceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// umbra's own client greets with server.name as the receive side takes
// it: an absolute name ("hub.example.") without its final dot.
func TestClientGreetsWithoutFinalDot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("220 peer.test\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
		c.Write([]byte("421 4.3.0 bye\r\n"))
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	NewClient(ctx, conn, ClientOptions{LocalName: "hub.example.", CommandTimeout: 10 * time.Second})
	if line := <-got; line != "EHLO hub.example\r\n" {
		t.Fatalf("greeting %q", line)
	}
}

// The server's own name is a Domain where umbra writes it for the
// client and in the trace field (RFC 5321 §4.1.1.1 greeting, §4.4 "by"):
// a server.name written absolute ("mx.test.") appears without its final dot.
func TestServerNameWithoutFinalDot(t *testing.T) {
	q := &fakeQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test.", Connectors: connectors(t, anon), Routing: testTable(), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220 mx.test ESMTP")
	d.cmd("EHLO c.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nbody\r\n.", "250 2.0.0")
	if body := string(q.bodies[0]); !strings.HasPrefix(body, "Received: from c.example ([127.0.0.1])\r\n\tby mx.test (umbra) ") {
		t.Fatalf("trace field: %.120q", body)
	}
}

// FuzzGreetingSyntax: a name the greeting takes is one ASCII token that
// cannot end or break the Received field's clause or its comment — no
// space, control, "(", ")", ";", "\\", "<", ">", "\"" or "@" — of at most
// 255 octets of labels or a bracketed IP address, and traceName writes it
// unchanged; anything else gets a 501 5.5.4 that echoes none of it.
func FuzzGreetingSyntax(f *testing.F) {
	fixedReplies := map[string]bool{}
	for _, a := range []string{"a b", "\xe9", "[", "a..b"} {
		fixedReplies[greetingSyntax("EHLO", a)] = true
	}
	for _, s := range []string{"client.example", "[192.0.2.1]", "[IPv6:::1]", "a..b", "[300.1.1.1]", "x y", "x\xc3\xa9", "a_b", "-a", "[IPv6:fe80::1%eth0]", "[1.2.3.04]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r := greetingSyntax("EHLO", arg)
		if r != "" {
			if !fixedReplies[r] { // names what is wrong, never the client's text
				t.Fatalf("%q: reply %q", arg, r)
			}
			if arg != "" && traceName(arg) != "unknown" {
				t.Fatalf("%q refused, yet traceName writes %q", arg, traceName(arg))
			}
			return
		}
		if arg == "" || len(arg) > 255+7 || strings.ContainsAny(arg, " \t\r\n()<>;\\\"@,") || !isASCII(arg) {
			t.Fatalf("%q taken", arg)
		}
		for i := 0; i < len(arg); i++ {
			if arg[i] < 0x21 || arg[i] > 0x7e {
				t.Fatalf("%q taken with byte %#x", arg, arg[i])
			}
		}
		if in, ok := strings.CutPrefix(arg, "["); ok {
			in, ok = strings.CutSuffix(in, "]")
			if v6, is6 := strings.CutPrefix(strings.ToLower(in), "ipv6:"); is6 {
				a, err := netip.ParseAddr(v6)
				ok = ok && err == nil && a.Is6() && a.Zone() == ""
			} else {
				parts := strings.Split(in, ".")
				ok = ok && len(parts) == 4
				for _, p := range parts {
					n, err := strconv.Atoi(p)
					ok = ok && err == nil && n >= 0 && n <= 255 && len(p) <= 3 && p[0] != '+' && p[0] != '-'
				}
			}
			if !ok {
				t.Fatalf("%q taken", arg)
			}
		} else if strings.Contains(arg, "..") || strings.HasPrefix(arg, ".") || strings.HasSuffix(arg, ".") || len(arg) > 255 {
			t.Fatalf("%q taken", arg)
		}
		if traceName(arg) != arg {
			t.Fatalf("%q taken, traceName writes %q", arg, traceName(arg))
		}
	})
}
