package smtp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
)

// RFC 5321 §4.5.1: "postmaster" without a domain, in any case, is
// accepted from anyone and goes to the configured postmaster address.
func TestPostmasterAccepted(t *testing.T) {
	for _, pm := range []string{"postmaster@example.test", "abuse@relay.test"} {
		q := &fakeQueue{}
		s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, anon), Postmaster: pm})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		// The reply names the recipient as given, never the internal path.
		if got := d.cmd("RCPT TO:<postmaster>", "250"); !strings.Contains(got, "<postmaster>") || strings.Contains(got, ".invalid") {
			t.Errorf("RCPT TO:<postmaster>: %q", got)
		}
		if got := d.cmd("RCPT TO:<PostMaster>", "250"); !strings.Contains(got, "<PostMaster>") || strings.Contains(got, ".invalid") {
			t.Errorf("RCPT TO:<PostMaster>: %q", got)
		}
		d.cmd("RCPT TO:<postmaster@elsewhere.test>", "550 5.7.1") // with a domain it is an ordinary address
		d.cmd("DATA", "354")
		d.cmd("Subject: help\r\n\r\nhi\r\n.", "250")
		if q.count() != 1 {
			t.Fatalf("%d messages", q.count())
		}
		for _, r := range q.msgs[0].Rcpts {
			if r.Addr != pm || r.ORcpt != "rfc822;postmaster" {
				t.Errorf("recipient %+v, want %s with ORCPT rfc822;postmaster", r, pm)
			}
		}
	}
}

// <postmaster> is found in a RCPT line's path as go-smtp reads the path
// (pathEnd, the layer's one reading of it): after any spaces or tabs
// following the colon, and with a quoted local part holding '>' read
// whole (SMTP-).
func TestPostmasterPathAsRead(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, anon), Postmaster: "postmaster@example.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	if got := d.cmd("RCPT TO:\t<PostMaster>", "250"); !strings.Contains(got, "<PostMaster>") || strings.Contains(got, ".invalid") {
		t.Errorf("RCPT TO:<tab><PostMaster>: %q", got)
	}
	if got := d.cmd("RCPT TO:  <postmaster> NOTIFY=NEVER", "250"); !strings.Contains(got, "<postmaster>") || strings.Contains(got, ".invalid") {
		t.Errorf("RCPT TO:  <postmaster> NOTIFY=NEVER: %q", got)
	}
	// A quoted local part is no bare postmaster, '>' inside it or not:
	// a path without a domain, said so (front47 F2).
	d.cmd(`RCPT TO:<"postmaster">`, "501 5.1.3 Bad recipient address syntax: no '@' and domain")
	d.cmd(`RCPT TO:<"post>master">`, "501 5.1.3 Bad recipient address syntax: no '@' and domain")
}

// A postmaster outside the organisation (no accepted domain, or an
// external_relay one) would make <postmaster> a relay to the outside for
// anyone: RCPT refuses it as it refuses any other relay (rt22 F5). Config
// refuses such a postmaster; this holds for a ServerConfig built without it.
func TestPostmasterOutsideNeverRelayed(t *testing.T) {
	for _, pm := range []string{"abuse@elsewhere.org", "postmaster@sub.example.test"} {
		q := &fakeQueue{}
		s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, anon), Postmaster: pm})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<postmaster>", "550 5.7.1")
		d.cmd("RCPT TO:<postmaster@example.test>", "250")
	}
	// No postmaster (a server with no domain inside the organisation):
	// a bare <postmaster> is refused as such (front48 item 1), never
	// with go-smtp's path syntax text.
	s := startWith(t, ServerConfig{Connectors: connectors(t, anon)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<postmaster>", replyNoPostmaster)
}

// More Received: headers than max_hop_count (umbra's own counted) is a
// loop: 554 5.4.6 at the end of DATA and of BDAT. Where mail enters the
// organisation (any client but an authenticated transport server of
// it) the message must leave room for the organisation's own hops:
// with max_hop_count 20 (headroom 10) an outside client gets 10 at most,
// a transport server 20 (rt44 M1: the next umbra hop never refuses what
// the one before took).
func TestHopLimit(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: transportConnector(t, ""), MaxHopCount: 20})
	received := func(n int) string {
		return strings.Repeat("Received: from x by y; Mon, 30 Nov 2026 12:00:00 +0000\r\n", n)
	}
	send := func(auth string, n int, bdat bool, want string) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if auth != "" {
			d.cmd(auth, "235")
		}
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		body := received(n) + "Subject: hops\r\n\r\nbody\r\n"
		if bdat {
			d.send(fmt.Sprintf("BDAT %d LAST\r\n", len(body)) + body)
		} else {
			d.cmd("DATA", "354")
			d.send(body + ".\r\n")
		}
		if got := d.reply(); !strings.HasPrefix(got, want) {
			t.Errorf("auth=%q %d Received (+ umbra's) bdat=%v: %q, want %s", auth, n, bdat, got, want)
		}
	}
	for _, bdat := range []bool{false, true} {
		send("", 9, bdat, "250")        // 9 + umbra's = 10: 10 hops left
		send("", 10, bdat, "554 5.4.6") // 9 left
		send(authAlice, 10, bdat, "554 5.4.6")
		send(authHub2, 19, bdat, "250") // 20
		send(authHub2, 20, bdat, "554 5.4.6")
	}
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	chunk := received(8) + "received :\r\n\tfrom folded\r\n" + "Received: z\r\n" + "\r\nbody\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST\r\n", len(chunk)) + chunk)
	d.expect("554 5.4.6")
	if q.count() != 4 {
		t.Fatalf("%d messages queued, want 4", q.count())
	}
}

// The headroom is a fraction of a small max_hop_count, never all of it.
func TestEntryHopHeadroom(t *testing.T) {
	for max, want := range map[int]int{60: 10, 20: 10, 30: 10, 12: 6, 5: 2, 1: 0, 100: 10} {
		if got := entryHeadroom(max); got != want {
			t.Errorf("max_hop_count %d: headroom %d, want %d", max, got, want)
		}
	}
}

// A Return-Path is added only at final delivery (RFC 5321 §4.4): an
// arriving one is removed at receipt. A Delivered-To naming no recipient
// stays: final delivery looks at it for loops.
func TestReturnPathRemovedAtReceipt(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, anon)})
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.cmd("Return-Path: <forged@evil.test>\r\nSubject: x\r\nreturn-path :\r\n <again@evil.test>\r\nDelivered-To: c@example.test\r\n\r\nReturn-Path: body text\r\n.", "250")
	body := string(q.bodies[0])
	if strings.Contains(body, "evil.test") || !strings.Contains(body, "Delivered-To: c@example.test\r\n") ||
		!strings.HasSuffix(body, "Subject: x\r\nDelivered-To: c@example.test\r\n\r\nReturn-Path: body text\r\n") {
		t.Errorf("stored message:\n%s", body)
	}
}

// syncBuffer is a log sink tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// A flood of refusals from one source writes a bounded number of lines;
// the rest are counted and reported. Credentials never reach the log.
func TestRefusalLogRateLimited(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))), Clock: clk,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	// Five sessions of ten refusals each from one source: below the
	// session's soft error limit, so no error delay.
	for n := 0; n < 5; n++ {
		d := dial(t, s, "127.0.0.5")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		for i := 0; i < 10; i++ {
			d.cmd(fmt.Sprintf("RCPT TO:<x%d@elsewhere.org>", 10*n+i), "550 5.7.1")
		}
		d.cmd("QUIT", "221")
	}
	if n := len(logs.lines("relay denied")); n != 10 {
		t.Fatalf("%d relay-denied lines for 50 refusals, want the burst of 10", n)
	}
	clk.Advance(time.Minute)
	d := dial(t, s, "127.0.0.5")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<late@elsewhere.org>", "550 5.7.1")
	got := logs.lines("relay denied")
	if len(got) != 11 || !strings.Contains(got[10], "suppressed=40") || !strings.Contains(got[10], "client_ip=127.0.0.5") {
		t.Fatalf("after a minute: %q", got[len(got)-1])
	}
	d.cmd("RSET", "250")
	d.cmd(plainAliceBad, "535")
	d.cmd(plainNobody, "535")
	fails := logs.lines("authentication failed")
	if len(fails) != 2 || !strings.Contains(fails[0], "user=alice") || strings.Contains(fails[1], "nobody") {
		t.Errorf("auth failure lines: %q", fails)
	}
	if all := strings.Join(logs.lines(""), "\n"); strings.Contains(all, "wrong") || strings.Contains(all, "AGFsaWNl") {
		t.Error("a password reached the log")
	}
}

// A key that falls quiet gets its summary at the next sweep; keys and
// throttle entries stay bounded whatever the number of sources.
func TestRefusalLogSummaryAndBounds(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	l := slog.New(slog.NewTextHandler(logs, nil))
	r := newRefusalLog(clk, l, 2, time.Minute)
	for i := 0; i < 5; i++ {
		r.log(l, "relay denied", "relay_denied", fixedReply("550 5.7.1"), netip.MustParseAddr("192.0.2.1"))
	}
	clk.Advance(2 * time.Minute)
	// Another key — another session's, whose logger names its client —
	// triggers the sweep. The summary names the offender under
	// client_ip, the key every refusal line uses (rt50 L1), never the
	// session that happened to write it.
	r.log(l.With("client_ip", "192.0.2.9"), "connection refused", "range", fixedReply("554 5.7.1"), netip.MustParseAddr("192.0.2.9"))
	if got := logs.lines("log lines suppressed"); len(got) != 1 || !strings.Contains(got[0], "suppressed=3") ||
		!strings.Contains(got[0], "client_ip=192.0.2.1 ") || strings.Contains(got[0], "192.0.2.9") {
		t.Fatalf("summary: %q", got)
	}
	for i := 0; i < maxLogKeys+100; i++ {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 1})
		r.log(l, "relay denied", "relay_denied", fixedReply("550 5.7.1"), a)
	}
	if len(r.keys) > maxLogKeys+1 {
		t.Errorf("%d log keys kept", len(r.keys))
	}

	g := newAuthGuard(clk, throttle(t))
	for i := 0; i < maxGuardKeys+50; i++ {
		g.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), fmt.Sprintf("u%d", i), false)
	}
	if len(g.sources) > maxGuardKeys || len(g.accounts) > maxGuardKeys {
		t.Errorf("throttle keeps %d sources, %d accounts", len(g.sources), len(g.accounts))
	}
	// One IPv6 host cannot escape its throttle by changing addresses in its /64.
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	for i := 0; i < 4; i++ {
		g.failed(a, "x", false)
	}
	if !g.lockedOut(b) {
		t.Error("a neighbour in the same /64 is not locked out")
	}
}

// rcptPostmaster rewrites exactly the postmaster path and nothing else:
// the rest of the line is kept byte for byte.
func FuzzRcptPostmaster(f *testing.F) {
	for _, s := range []string{"RCPT TO:<postmaster>\r\n", "rcpt to: <PostMaster> NOTIFY=NEVER\r\n", "RCPT TO:<postmaster@x.test>\r\n",
		"RCPT TO:<postmaster>x\r\n", "RCPT TO:<postmaster", "MAIL FROM:<postmaster>\r\n", "RCPT TO:\t<postmaster>\r\n",
		`RCPT TO:<"post>master">` + "\r\n", `RCPT TO:<"a>b"@x.test> NOTIFY=NEVER` + "\r\n", "RCPT  TO:<postmaster>\r\n"} {
		f.Add([]byte(s))
	}
	const rewritten = "<" + postmasterPath + ">"
	f.Fuzz(func(t *testing.T, line []byte) {
		in := append([]byte(nil), line...)
		ml := parseMailLine(line)
		given := rcptPostmaster(&ml, true)
		out := ml.bytes()
		if !bytes.Equal(line, in) {
			t.Fatal("input modified")
		}
		before := parseMailLine(in)
		if given == "" {
			if !bytes.Equal(out, in) {
				t.Fatalf("%q changed to %q with no postmaster path", in, out)
			}
			return
		}
		// Only the path changed, and it was <postmaster> as go-smtp
		// reads the path (pathSpan): what comes before it and the
		// parameters are the client's.
		after := parseMailLine(out)
		if given != string(before.pathBytes()) || !strings.EqualFold(given, "<postmaster>") {
			t.Fatalf("%q: rewrote the path %q", in, given)
		}
		if string(after.pathBytes()) != rewritten || !bytes.Equal(after.head[:after.path], before.head[:before.path]) ||
			!slices.Equal(after.params, before.params) || !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("%q -> %q", in, out)
		}
		again := parseMailLine(in)
		if rcptPostmaster(&again, false) != "" || !bytes.Equal(again.bytes(), in) {
			t.Fatal("rewritten without a postmaster")
		}
	})
}

// An address literal is no domain umbra routes (asking DNS for the MX
// of "[127.0.0.1]" is a question about no name): RCPT refuses it with
// 550 5.1.2 even where relay is granted, except postmaster at the very
// address the client connected to (RFC 5321 §4.5.1), which is this
// server's postmaster.
func TestAddressLiteralRecipients(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Postmaster: "postmaster@example.test", Connectors: connectors(t, `
  - name: relay
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    permissions: {anonymous: [submit, relay]}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for _, rcpt := range []string{"u@[127.0.0.2]", "u@[127.0.0.1]", "u@[IPv6:::1]", "postmaster@[127.0.0.2]", "postmaster@[IPv6:::ffff:127.0.0.3]"} {
		d.cmd("RCPT TO:<"+rcpt+">", "550 5.1.2")
	}
	d.cmd("RCPT TO:<PostMaster@[127.0.0.1]>", "250")
	d.cmd("RCPT TO:<postmaster@[IPv6:::ffff:127.0.0.1]>", "250")
	d.cmd("RCPT TO:<u@elsewhere.test>", "250") // relay as granted
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	var got []string
	for _, r := range q.msgs[0].Rcpts {
		got = append(got, r.Addr)
	}
	// Both literals name the one postmaster: stored once.
	if strings.Join(got, ",") != "postmaster@example.test,u@elsewhere.test" {
		t.Fatalf("recipients %q", got)
	}
}

// A domain that is IP-address text without brackets (u@192.0.2.1, an
// IPv6 address, a bracket never closed) is no domain: resolving it as a
// host name would reach an address no policy allowed (the resolver takes
// "192.0.2.1" as that address). RCPT refuses it with 550 5.1.2 as it
// refuses an address literal, whatever the connector grants (SMTP-3).
func TestIPAddressTextRecipients(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Postmaster: "postmaster@example.test", Connectors: connectors(t, `
  - name: relay
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    permissions: {anonymous: [submit, relay]}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for _, rcpt := range []string{"u@192.0.2.1", "u@192.0.2.1.", "u@127.0.0.1", "postmaster@127.0.0.1", "u@127.1", "u@10.0.0.010",
		"u@::1", "u@IPv6:::1", "u@2001:db8::1", "u@example.123"} {
		d.cmd("RCPT TO:<"+rcpt+">", "550 5.1.2")
	}
	// A bracket that holds no address is a malformed literal: a syntax
	// error (TestAddressLiteralOneReader).
	for _, rcpt := range []string{"u@[not-an-ip", "u@[not-an-ip]"} {
		d.cmd("RCPT TO:<"+rcpt+">", "501 5.1.3")
	}
	d.cmd("RCPT TO:<u@192-0-2-1.example.test>", "250") // digits in a name are fine
	d.cmd("RCPT TO:<u@123.example>", "250")
	d.cmd("RCPT TO:<u@0x7f.example>", "250")
}

// A refusal's log line carries the codes the client read: from the reply
// itself, the class alone when it has no enhanced code set, none when it
// is written without one; a fixed line's codes read from its words.
func TestRefusalLogReplyCodes(t *testing.T) {
	for _, tc := range []struct {
		reply *gosmtp.SMTPError
		want  string
	}{
		{&gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}}, "code=554 enhanced_code=5.7.1"},
		{&gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCodeNotSet}, "code=451 enhanced_code=4.0.0"},
		{&gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.NoEnhancedCode}, "code=554 stage"},
		{fixedReply("550 5.7.1 Not permitted"), "code=550 enhanced_code=5.7.1"},
		{fixedReply("421 Too busy"), "code=421 stage"},
		{nil, "reason=r stage"},
	} {
		logs := &syncBuffer{}
		l := slog.New(slog.NewTextHandler(logs, nil))
		newRefusalLog(clock.NewFake(time.Now()), l, 2, time.Minute).log(l, "refused", "r", tc.reply, netip.MustParseAddr("192.0.2.1"), "stage", "x")
		if got := logs.lines("refused"); len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%v: %q, want %q in it", tc.reply, got, tc.want)
		}
	}
}
