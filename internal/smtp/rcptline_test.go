package smtp

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// ehloConn is a server in memory that greets, answers EHLO with its
// extensions and every other command with a 250.
type ehloConn struct {
	ext   []string
	avail []byte
}

func (c *ehloConn) Read(b []byte) (int, error) {
	if len(c.avail) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.avail)
	c.avail = c.avail[n:]
	return n, nil
}

func (c *ehloConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("EHLO ")) {
		lines := append([]string{"rcptline.test"}, c.ext...)
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			c.avail = append(c.avail, "250"+sep+l+"\r\n"...)
		}
		return len(b), nil
	}
	c.avail = append(c.avail, "250 2.0.0 ok\r\n"...)
	return len(b), nil
}

func (c *ehloConn) Close() error                     { return nil }
func (c *ehloConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *ehloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 25} }
func (c *ehloConn) SetDeadline(time.Time) error      { return nil }
func (c *ehloConn) SetReadDeadline(time.Time) error  { return nil }
func (c *ehloConn) SetWriteDeadline(time.Time) error { return nil }

// goSMTPRcptLine is what go-smtp's Client.Rcpt puts in a pipelined group
// for one recipient (the capture of pipeline.go), or its error.
func goSMTPRcptLine(t *testing.T, ext []string, to string, opts *gosmtp.RcptOptions) ([]byte, error) {
	t.Helper()
	c, err := NewClient(context.Background(), &ehloConn{ext: ext, avail: []byte("220 rcptline.test ESMTP\r\n")},
		ClientOptions{LocalName: "c.test", TLS: TLSNone, CommandTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.sc.startCapture()
	defer c.sc.stopCapture()
	if err := c.Mail("s@example.org", nil); err != nil {
		t.Fatal(err)
	}
	mail := len(c.sc.captured)
	if err := c.Rcpt(to, opts); err != nil {
		return nil, err
	}
	return bytes.Clone(c.sc.captured[mail:]), nil
}

// checkRcptLine: where appendRcptLine formats a line, go-smtp formats
// the same bytes and accepts the recipient; where go-smtp refuses one,
// appendRcptLine leaves it to go-smtp; dst is never disturbed.
func checkRcptLine(t *testing.T, ext []string, to string, opts *gosmtp.RcptOptions) (formatted bool) {
	t.Helper()
	dsn := false
	for _, e := range ext {
		if strings.EqualFold(strings.Fields(e + " x")[0], "DSN") {
			dsn = true
		}
	}
	prefix := []byte("MAIL FROM:<s@example.org>\r\n")
	got, ok := appendRcptLine(bytes.Clone(prefix), to, opts, dsn)
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("dst changed: %q", got)
	}
	want, err := goSMTPRcptLine(t, ext, to, opts)
	if opts != nil && ForeignOrcptType(string(opts.OriginalRecipientType)) {
		// go-smtp writes no ORCPT of another address type; the
		// formatter writes it as go-smtp writes an rfc822 one, its type
		// as given (orcpt.go).
		o := *opts
		o.OriginalRecipientType = gosmtp.DSNAddressTypeRFC822
		if want, err = goSMTPRcptLine(t, ext, to, &o); err == nil {
			want = bytes.Replace(want, []byte(" ORCPT=RFC822;"), []byte(" ORCPT="+string(opts.OriginalRecipientType)+";"), 1)
		}
	}
	if !ok {
		if len(got) != len(prefix) {
			t.Fatalf("not formatted, yet %q appended", got[len(prefix):])
		}
		return false
	}
	if err != nil {
		t.Fatalf("formatted %q where go-smtp refuses: %v", got[len(prefix):], err)
	}
	if !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("to %q opts %+v ext %v:\n got  %q\n want %q", to, opts, ext, got[len(prefix):], want)
	}
	return true
}

func TestRcptLineMatchesGoSMTP(t *testing.T) {
	withDSN := []string{"PIPELINING", "DSN", "SMTPUTF8"}
	noDSN := []string{"PIPELINING", "SIZE 1000"}
	long := strings.Repeat("a", rcptWriteBuffer) + "@example.net"
	cases := []struct {
		ext       []string
		to        string
		opts      *gosmtp.RcptOptions
		formatted bool
	}{
		{withDSN, "a@example.net", nil, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{}, true},
		{noDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever, gosmtp.DSNNotifySuccess}}, true}, // no DSN: not sent, not checked
		{withDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure, gosmtp.DSNNotifyDelayed}}, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever}}, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever, gosmtp.DSNNotifyFailure}}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure, gosmtp.DSNNotifyFailure}}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{"SOMETIMES"}}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "Odd+One= x@example.net"}, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "tab\there@example.net"}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: gosmtp.DSNAddressTypeUTF8, OriginalRecipient: "ü@example.net"}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: "x400", OriginalRecipient: "a"}, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: "x-foo", OriginalRecipient: "b=c+d"}, true},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{OriginalRecipientType: "x foo", OriginalRecipient: "b"}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{RequireRecipientValidSince: time.Unix(1, 0)}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{MTPriority: new(int)}, false},
		{withDSN, "a@example.net", &gosmtp.RcptOptions{DeliverBy: &gosmtp.DeliverByOptions{Time: time.Minute, Mode: gosmtp.DeliverByNotify}}, false},
		{withDSN, "a@exam\r\nRSET", nil, false},
		{withDSN, "ü@example.net", nil, true},
		{withDSN, long, nil, false},
	}
	for _, c := range cases {
		if got := checkRcptLine(t, c.ext, c.to, c.opts); got != c.formatted {
			t.Errorf("to %.40q opts %+v: formatted %v, want %v", c.to, c.opts, got, c.formatted)
		}
	}
}

// FuzzRcptLine: the RCPT TO line umbra formats for a pipelined
// transaction is go-smtp's, byte for byte, for any address, NOTIFY set
// and ORCPT, with and without DSN advertised; what go-smtp refuses is
// never formatted.
func FuzzRcptLine(f *testing.F) {
	f.Add("a@example.net", "", "", "", true)
	f.Add("a@example.net", "SUCCESS,FAILURE", "rfc822", "b+c=d@example.net", true)
	f.Add("a@example.net", "NEVER,DELAY", "rfc822", "x", true)
	f.Add("a@exa\rmple.net", "", "", "", false)
	f.Add("a@example.net", "FAILURE", "utf-8", "ü@example.net", true)
	f.Fuzz(func(t *testing.T, to, notify, orcptType, orcpt string, dsn bool) {
		ext := []string{"PIPELINING"}
		if dsn {
			ext = append(ext, "DSN")
		}
		opts := &gosmtp.RcptOptions{OriginalRecipientType: gosmtp.DSNAddressType(orcptType), OriginalRecipient: orcpt}
		if notify != "" {
			for _, n := range strings.Split(notify, ",") {
				opts.Notify = append(opts.Notify, gosmtp.DSNNotify(n))
			}
		}
		checkRcptLine(t, ext, to, opts)
		checkRcptLine(t, ext, to, nil)
	})
}
