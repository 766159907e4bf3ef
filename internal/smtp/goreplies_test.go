package smtp

import (
	"strings"
	"testing"
	"time"
)

// goSMTPWordings are the texts go-smtp (v0.25.1, conn.go) answers a
// malformed MAIL or RCPT line, or a parameter it does not take, with.
// None reaches a client of umbra: every malformed line gets umbra's own
// reply, saying what was expected and what was found (front48 item 1),
// every parameter not offered umbra's 555 5.5.4 naming it (words49 item
// 2).
var goSMTPWordings = []string{
	"Was expecting", "Unable to parse", "Unknown BODY value", "Unknown RET value",
	"Malformed ENVID", "Malformed AUTH", "Malformed NOTIFY", "Malformed ORCPT",
	"is not implemented", "Unknown MAIL FROM argument", "Unknown RCPT TO argument",
	"Malformed RRVS", "Malformed BY", "Malformed MT-PRIORITY", "outside valid range", "below server minimum",
	"Missing parameter",
}

// SMTP-3 (front48 item 1): a MAIL or RCPT line without FROM: or TO:, or
// whose path or parameter value go-smtp cannot read, gets umbra's own
// reply — 501 5.5.4 naming what was expected and what was found, or the
// malformed-path reply with its reason —, never go-smtp's text; and
// RCPT TO:<postmaster> on a server with no postmaster is refused as
// such.
func TestSMTP3EveryMalformedMailRcptLineGetsUmbrasReply(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	check := func(t *testing.T, inTxn bool, line, want string) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if inTxn {
			d.cmd("MAIL FROM:<a@ext.test>", "250")
		}
		got := d.cmd(line, want)
		for _, w := range goSMTPWordings {
			if strings.Contains(got, w) {
				t.Errorf("%q: got go-smtp's %q", line, got)
			}
		}
		if inTxn {
			d.cmd("RCPT TO:<alice@example.test>", "250") // the transaction stands
		} else {
			d.cmd("MAIL FROM:<a@ext.test>", "250") // nothing was opened
		}
		d.cmd("QUIT", "221")
		d.closed()
	}
	for _, c := range []struct{ line, want string }{
		{"MAIL FROMM:<a@ext.test>", `501 5.5.4 Syntax error in MAIL command: expected FROM:<address>, found "FROMM:<a@ext.test>"`},
		{"MAIL <a@ext.test>", `501 5.5.4 Syntax error in MAIL command: expected FROM:<address>, found "<a@ext.test>"`},
		{"MAIL FROM <a@ext.test>", `501 5.5.4 Syntax error in MAIL command: expected FROM:<address>, found "FROM <a@ext.test>"`},
		{"MAIL", "501 5.5.4 Syntax error in MAIL command: expected FROM:<address>, found nothing"},
		{"MAIL FROM:", "501 5.1.7 Bad sender address syntax: no path after FROM:"},
		{"MAIL FROM:x", "501 5.1.7 Bad sender address syntax: no '@' and domain"},
		{"MAIL FROM:@x.test", "501 5.1.7 Bad sender address syntax: a source route without ':'"}, // go-smtp reads a leading @ as a source route
		{"MAIL FROM:<\"\"@ext.test>", "501 5.1.7 Bad sender address syntax: an empty local part"},
		{"MAIL FROM:a(b@ext.test", "501 5.1.7 Bad sender address syntax: a '(' in the local part (quote the local part)"},
		{`MAIL FROM:"a`, "501 5.1.7 Bad sender address syntax: an unterminated quoted local part"},
		{"MAIL FROM:<@a>", "501 5.1.7 Bad sender address syntax: a source route without ':'"},
		{"MAIL FROM:a@ext.test>x", "501 5.1.7 Bad sender address syntax: a stray '>' in the path"},
		{"MAIL FROM:<a@ext.test> SIZE=abc", "501 5.5.4 Syntax error in MAIL FROM parameters: SIZE=abc: expected a number of octets"},
		{"MAIL FROM:<a@ext.test> BODY=X", "501 5.5.4 Syntax error in MAIL FROM parameters: BODY=X: expected 7BIT or 8BITMIME"},
		{"MAIL FROM:<a@ext.test> RET=X", "501 5.5.4 Syntax error in MAIL FROM parameters: RET=X: expected FULL or HDRS"},
		{"MAIL FROM:<a@ext.test> ENVID=a+zz", "501 5.5.4 Syntax error in MAIL FROM parameters: ENVID=a+zz: expected xtext of printable ASCII"},
		{"MAIL FROM:<a@ext.test> AUTH=", "501 5.5.4 Syntax error in MAIL FROM parameters: AUTH=: expected xtext of an address or <>"},
		{"MAIL FROM:<a@ext.test> AUTH=x", "501 5.5.4 Syntax error in MAIL FROM parameters: AUTH=x: expected xtext of an address or <>"},
	} {
		check(t, false, c.line, c.want)
	}
	for _, c := range []struct{ line, want string }{
		{"RCPT TO <alice@example.test>", `501 5.5.4 Syntax error in RCPT command: expected TO:<address>, found "TO <alice@example.test>"`},
		{"RCPT <alice@example.test>", `501 5.5.4 Syntax error in RCPT command: expected TO:<address>, found "<alice@example.test>"`},
		{"RCPT TOO:<alice@example.test>", `501 5.5.4 Syntax error in RCPT command: expected TO:<address>, found "TOO:<alice@example.test>"`},
		{"RCPT", "501 5.5.4 Syntax error in RCPT command: expected TO:<address>, found nothing"},
		{"RCPT TO:", "501 5.1.3 Bad recipient address syntax: no path after TO:"},
		{"RCPT TO:x", "501 5.1.3 Bad recipient address syntax: no '@' and domain"},
		{"RCPT TO:<>", "501 5.1.3 Bad recipient address syntax: the null path <> names no recipient"},
		{"RCPT TO:<@a>", "501 5.1.3 Bad recipient address syntax: a source route without ':'"},
		{"RCPT TO:a(b@example.test", "501 5.1.3 Bad recipient address syntax: a '(' in the local part (quote the local part)"},
		{"RCPT TO:<postmaster>", "550 5.1.1 Recipient address rejected: this server has no postmaster; write to postmaster@ the recipient's domain"},
		{"RCPT TO:postmaster", "550 5.1.1 Recipient address rejected: this server has no postmaster; write to postmaster@ the recipient's domain"},
		{"RCPT TO:<alice@example.test> NOTIFY=X", "501 5.5.4 Syntax error in RCPT TO parameters: NOTIFY=X: expected NEVER, or SUCCESS, FAILURE, DELAY separated by ','"},
		{"RCPT TO:<alice@example.test> NOTIFY=", "501 5.5.4 Syntax error in RCPT TO parameters: NOTIFY=: expected NEVER, or SUCCESS, FAILURE, DELAY separated by ','"},
	} {
		check(t, true, c.line, c.want)
	}
}

// SMTP-3 (front48 item 1): with a postmaster, <postmaster> is taken
// written without angle brackets too, as every lenient path form is, and
// the reply names it as a path.
func TestSMTP3BarePostmasterTakenWhereThereIsOne(t *testing.T) {
	s := startWith(t, ServerConfig{Queue: &fakeQueue{}, Connectors: connectors(t, anon), Postmaster: "postmaster@example.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("RCPT TO:postmaster", "250 2.1.5 I'll make sure <postmaster> gets this")
	d.cmd("RCPT TO:<PostMaster>", "250 2.1.5 I'll make sure <PostMaster> gets this")
	d.cmd("QUIT", "221")
}

// SMTP-3 (front48 item 1): whatever follows MAIL or RCPT on the line,
// the reply is umbra's — never one of go-smtp's texts for a line it
// cannot read (goSMTPWordings) —, one reply line, over real SMTP. The
// layer reads the line as go-smtp does (pathsyntax.go): where the two
// disagreed, go-smtp's text would come through here.
func FuzzMailRcptLineNeverGoSMTPText(f *testing.F) {
	for _, s := range []string{"FROMM:<a@ext.test>", "<a@ext.test>", "", "FROM", "FROM:", "FROM:x", "FROM:<@a>", "FROM:<@a:>",
		"FROM:a(b@ext.test", `FROM:"a`, "FROM:@x.test", "FROM:<a@ext.test> SIZE=abc", "FROM:<a@ext.test> BODY=X",
		"FROM:<a@ext.test> AUTH=a+zz", "FROM:<a@ext.test> ENVID=+", "FROM:<>", "FROM:<> SIZE=1", "FROM: <a@ext.test>",
		"from:<a@ext.test>", "FROM:a@ext.test", "FROM:<a@ext.test", "FROM:<\"a\\\"b\"@ext.test>", "FROM:<a@[1.2.3.4]>",
		"TO:<>", "TO:<postmaster>", "TO:postmaster", "TO <x@example.test>", "TO:<x@example.test> NOTIFY=X", "TO:<x@example.test> ORCPT=x",
		"TO:<@a,@b:x@example.test>", "TO:<x@example.test>x", "TO:\"x", "TO:<a\tb@example.test>", "TO:<\"\"@example.test>",
		// Parameters umbra does not offer, or whose value go-smtp reads
		// (words49 item 2).
		"FROM:<a@ext.test> BY=120;R", "FROM:<a@ext.test> MT-PRIORITY=3", "FROM:<a@ext.test> RRVS=2020-01-01T00:00:00Z",
		"FROM:<a@ext.test> BODY=BINARYMIME", "FROM:<a@ext.test> SMTPUTF8=x", "FROM:<a@ext.test> FOO=1 BAR",
		"TO:<x@example.test> BY=120;R", "TO:<x@example.test> MT-PRIORITY=99", "TO:<x@example.test> RRVS=x",
		"TO:<x@example.test> ORCPT=x-foo;a+zz", "TO:<x@example.test> ORCPT=x-foo;", "TO:<x@example.test> ORCPT=rfc822;a+zz",
		"TO:<x@example.test> NOTIFY=NEVER,SUCCESS", "TO:<x@example.test> ORCPT=utf-8;a\\x{zz}"} {
		f.Add(s)
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(f, anon), Routing: testTable(), Queue: &fakeQueue{}})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		f.Fatal(err)
	}
	s.Serve()
	f.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	f.Fuzz(func(t *testing.T, rest string) {
		if strings.ContainsAny(rest, "\r\n") || len(rest) > 400 {
			return // one command line, within the connector's line length
		}
		for _, verb := range []string{"MAIL", "RCPT"} {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			if verb == "RCPT" {
				d.cmd("MAIL FROM:<a@ext.test>", "250")
			}
			line := verb
			if rest != "" {
				line += " " + rest
			}
			d.send(line + "\r\n")
			got := d.reply()
			if strings.Contains(got, "\n") || len(got) < 4 || got[3] != ' ' {
				t.Fatalf("%q: reply %q is not one reply line", line, got)
			}
			for _, w := range goSMTPWordings {
				if strings.Contains(got, w) {
					t.Fatalf("%q: go-smtp's reply %q", line, got)
				}
			}
			d.send("QUIT\r\n")
			d.closed()
		}
	})
}
