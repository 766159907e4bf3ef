package queue

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The content a DSN returns is capped: a message over the limit comes
// back as its headers only (text/rfc822-headers, RFC 3462), and a header
// section over the limit is cut at a field boundary.
func TestDSNReturnedContentCapped(t *testing.T) {
	const limit = 50 << 10
	big := "From: a@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat("attacker text\r\n", 20000) // ~300 KB
	hugeHead := strings.Repeat("X-Junk: "+strings.Repeat("j", 70)+"\r\n", 2000) + "Subject: h\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name, body  string
		retFull     bool
		wantType    string
		want, avoid []string
	}{
		{"small RET=FULL returns the message", body, true, "message/rfc822", []string{"hello\r\n"}, nil},
		{"big RET=FULL returns headers only", big, true, "text/rfc822-headers",
			[]string{"Subject: big\r\n", "larger than 51200 bytes"}, []string{"attacker text"}},
		{"huge header section is cut", hugeHead, false, "text/rfc822-headers", []string{"X-Junk: jjj"}, []string{"Subject: h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{ID: 0xABC, From: "s@example.org", RetFull: tc.retFull, Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.1.1 no such user"}}}
			out := string(BuildDSN("mx.test", m, []byte(tc.body), NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, limit))
			if len(out) > limit+8<<10 {
				t.Errorf("DSN of %d bytes for a limit of %d", len(out), limit)
			}
			if !strings.Contains(out, "Content-Type: "+tc.wantType+"\r\n") {
				t.Errorf("returned part is not %s", tc.wantType)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("DSN lacks %q", w)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(out, a) {
					t.Errorf("DSN carries %q", a)
				}
			}
			if tc.body == hugeHead { // every returned line is a whole field
				part := out[strings.Index(out, "Undelivered message headers\r\n\r\n")+len("Undelivered message headers\r\n\r\n"):]
				part = part[:strings.Index(part, "\r\n\r\n--")]
				for _, l := range strings.Split(part, "\r\n") {
					if l != "X-Junk: "+strings.Repeat("j", 70) {
						t.Fatalf("returned line %q", l)
					}
				}
			}
		})
	}
}

// End to end: an anonymous sender's RET=FULL message of 300 KB to a
// failing recipient makes the manager send a DSN within the configured cap.
func TestManagerDSNIsCapped(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(addr string, n int) (Outcome, string) {
		if addr == "victim@example.net" {
			return FailedPerm, "550 5.1.1 no such user"
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", BounceSizeLimit: 10 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "forged@target.example", "victim@example.net")
	m.RetFull = true
	big := "From: x@y\r\nSubject: s\r\n\r\n" + strings.Repeat("reflected attacker text\r\n", 12000)
	if err := q.Submit(ctx, m, []byte(big)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	d.wait(t) // the DSN
	d.mu.Lock()
	dsn := d.seen[1].Helo
	d.mu.Unlock()
	if len(dsn) > 16<<10 || strings.Contains(dsn, "reflected attacker text") || !strings.Contains(dsn, "text/rfc822-headers") {
		t.Errorf("DSN of %d bytes returns the body", len(dsn))
	}
}

// Whatever the message, the returned content is within the limit (or the
// whole message when it fits and was asked for), a cut header section
// ends at a line end, and content for a 7-bit DSN has no byte above 127
// (the message's start when its header section had none).
func FuzzReturnedContent(f *testing.F) {
	f.Add([]byte(body), true, int64(50), false)
	f.Add([]byte("A: b\r\n c\r\nD: e\r\n\r\nbody"), false, int64(9), false)
	f.Add([]byte("no header end"), true, int64(3), true)
	f.Add([]byte("Subject: caf\xc3\xa9\r\nTo: \xff\r\n\r\nbody \xe9"), true, int64(0), true)
	f.Fuzz(func(t *testing.T, msg []byte, full bool, limit int64, sevenBit bool) {
		out, isFull, _ := returnedContent(msg, full, limit, sevenBit)
		switch {
		case isFull:
			if !full || (limit > 0 && int64(len(msg)) > limit) || !bytes.Equal(out, msg) || (sevenBit && Has8bit(msg)) {
				t.Fatalf("full content returned wrongly (limit %d, len %d)", limit, len(msg))
			}
		case limit > 0 && int64(len(out)) > limit:
			t.Fatalf("%d bytes returned over a limit of %d", len(out), limit)
		case sevenBit && Has8bit(out):
			t.Fatalf("8-bit content %q returned for a 7-bit DSN", out)
		case (!sevenBit || !Has8bit(headersOf(msg))) && !bytes.HasPrefix(msg, out):
			t.Fatal("returned content is not the message's start")
		}
	})
}

// A DSN's words say what it carries: a failure DSN that returns only the
// header section (RET=HDRS, no RET, or a message over the limit) does not
// say the message is attached, and a success or delay report does not
// label the headers of a delivered message "undelivered".
func TestDSNSaysWhatItReturns(t *testing.T) {
	const body = "From: a@example.org\r\nSubject: s\r\n\r\nhello\r\n"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		kind        Notify
		retFull     bool
		want, avoid []string
	}{
		{"failure RET=FULL", NotifyFailure, true, []string{"It is attached below; the reasons follow.",
			"Content-Description: Undelivered message\r\n"}, []string{"header section is attached"}},
		{"failure RET=HDRS", NotifyFailure, false, []string{"Its header section is attached below; the reasons follow.",
			"Content-Description: Undelivered message headers\r\n"}, []string{"It is attached below"}},
		{"success", NotifySuccess, false, []string{"Content-Description: Message headers\r\n"}, []string{"Undelivered"}},
		{"delay", NotifyDelay, false, []string{"Content-Description: Message headers\r\n"}, []string{"Undelivered message"}},
	} {
		m := &Message{ID: 0xABC, From: "s@example.org", RetFull: tc.retFull, RetHdrs: !tc.retFull, Arrived: at,
			Rcpts: []Recipient{{Addr: "x@example.net", LastReply: "550 5.1.1 no such user"}}}
		out := string(BuildDSN("mx.test", m, []byte(body), tc.kind, []int{0}, at, at.Add(time.Hour), 0xDEF, 50<<10))
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, a := range tc.avoid {
			if strings.Contains(out, a) {
				t.Errorf("%s: says %q:\n%s", tc.name, a, out)
			}
		}
	}
}
