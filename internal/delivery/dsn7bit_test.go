package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// eventRecorder keeps the queue's events by name.
type eventRecorder struct {
	mu     sync.Mutex
	events []string
}

func (e *eventRecorder) Event(name string, _ *queue.Message, _ *queue.Recipient, reply string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, name+" "+reply)
}

func (e *eventRecorder) has(prefix string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		if strings.HasPrefix(ev, prefix) {
			return true
		}
	}
	return false
}

// lockedBuffer is a log destination safe for the manager's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// NEW-2: the one next hop (a smart host or MX that offers neither
// 8BITMIME nor SMTPUTF8) refuses a message with 8-bit content (5.6.3) or
// internationalised header fields (5.6.7). The DSN goes to the sender
// over the same hop, so it must be 7-bit: it arrives, returning the
// headers only, 7-bit, without BODY=8BITMIME or SMTPUTF8 on its MAIL. A
// DSN to a sender whose address itself needs SMTPUTF8 cannot be 7-bit
// (RFC 6533); when no hop takes it, it is a lost bounce, logged at WARN
// and counted (the bounce-lost event), never silently dropped.
func TestDSNOfEightBitFailureReachesSenderOverSameHop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    string
		utf8    bool
		retFull bool
		body    string
		reply   string // the original's failure
		lost    bool
	}{
		{"internationalised headers", "s@example.org", true, false,
			"From: J\xc3\xbcrgen <s@example.org>\r\nSubject: caf\xc3\xa9\r\n\r\nhello\r\n", "550 5.6.7", false},
		{"8-bit body, RET=FULL", "s@example.org", false, true,
			"Subject: plain\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n", "550 5.6.3", false},
		{"UTF-8 sender address", "j\xc3\xbcrgen@example.org", true, false,
			"Subject: caf\xc3\xa9\r\n\r\nhello\r\n", "553 5.6.7", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := startRawSink(t, "127.0.0.2:0", "SIZE", "PIPELINING")
			dns := &fakeDNS{mx: map[string][]*net.MX{
				"outside.example": {{Host: "mx.outside.example.", Pref: 10}},
				"example.org":     {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.2"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(sink.addr)))
			store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ev := &eventRecorder{}
			logs := &lockedBuffer{}
			q := queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 4, Events: ev,
				Log: slog.New(slog.NewTextHandler(logs, nil))})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait(); store.Close() }()
			q.Start(ctx)
			m := &queue.Message{ID: q.NewID(), From: tc.from, UTF8: tc.utf8, RetFull: tc.retFull,
				Rcpts: []queue.Recipient{{Addr: "x@outside.example"}}}
			if err := q.Submit(ctx, m, []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for {
				if time.Now().After(deadline) {
					mails, _ := sink.got()
					t.Fatalf("no DSN reached the sink (MAIL lines %q); events %q; log:\n%s", mails, ev.events, logs)
				}
				mails, datas := sink.got()
				if tc.lost {
					if ev.has("bounce-lost") {
						if len(datas) != 0 {
							t.Fatalf("the hop got %q", datas)
						}
						if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "bounce lost") {
							t.Fatalf("no WARN for the lost bounce:\n%s", logs)
						}
						return
					}
				} else if len(datas) > 0 {
					if !ev.has("fail " + tc.reply) {
						t.Fatalf("the original did not fail with %s: %q", tc.reply, ev.events)
					}
					dsn := datas[0]
					if len(datas) != 1 || !strings.HasPrefix(mails[0], "MAIL FROM:<>") {
						t.Fatalf("the hop got %q %q", mails, datas)
					}
					if strings.Contains(mails[0], "BODY=8BITMIME") || strings.Contains(mails[0], "SMTPUTF8") {
						t.Errorf("the DSN's MAIL is %q", mails[0])
					}
					if i := bytes.IndexFunc([]byte(dsn), func(r rune) bool { return r >= 0x80 }); i >= 0 {
						t.Fatalf("8-bit DSN:\n%s", dsn)
					}
					for _, w := range []string{"To: <s@example.org>", "Status: " + strings.Fields(tc.reply)[1], "text/rfc822-headers"} {
						if !strings.Contains(dsn, w) {
							t.Errorf("DSN lacks %q:\n%s", w, dsn)
						}
					}
					if strings.Contains(dsn, " vu\r\n") {
						t.Errorf("the DSN returns the 8-bit body:\n%s", dsn)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
