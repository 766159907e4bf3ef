package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// headerOnly is a message of exactly n bytes as a sender sends it that
// is a header section alone: fields, no empty line, no body.
func headerOnly(n int) []byte {
	b := []byte("Subject: fields alone\r\n")
	for len(b)+80 < n {
		b = append(b, "X-Pad: "+strings.Repeat("p", 71)+"\r\n"...)
	}
	return append(b, "X-End: "+strings.Repeat("e", n-len(b)-9)+"\r\n"...)
}

// headerLess is a message of exactly n bytes whose first line is no
// header field: it has no header section.
func headerLess(n int) []byte {
	b := []byte("no header here\r\n")
	for len(b)+80 < n {
		b = append(b, strings.Repeat("w", 76)+"\r\n"...)
	}
	return append(b, strings.Repeat("z", n-len(b)-2)+"\r\n"...)
}

// SMTP-5, RT-7 (README "What a size limit measures"; rt42-front F1): the
// empty line umbra puts after a header section that has none (package
// smtp, sealHeadSection: a message of header fields alone gets it at
// its end, one with no header section at its start) is umbra's, like
// its trace field, and not counted: a sender's message of either kind
// at exactly a send connector's max_message_size is relayed (to a real
// listener, over SMTP) — the stored body is sent as stored, empty line
// and all — and one byte more is refused 552 5.3.4.
func TestSealedEmptyLineNotCountedAgainstLimits(t *testing.T) {
	const limit = 4000
	for _, kind := range []struct {
		name  string
		sent  func(int) []byte
		store func([]byte) []byte // what the receiving session stores after its trace field
	}{
		{"header section alone", headerOnly, func(b []byte) []byte { return append(b, '\r', '\n') }},
		{"no header section", headerLess, func(b []byte) []byte { return append([]byte("\r\n"), b...) }},
	} {
		for _, tc := range []struct {
			size  int
			want  queue.Outcome
			reply string
		}{
			{limit - 1, queue.RelayedOK, "250"},
			{limit, queue.RelayedOK, "250"},
			{limit + 1, queue.FailedPerm, "552 5.3.4 message size"},
		} {
			t.Run(fmt.Sprintf("%s/%d", kind.name, tc.size), func(t *testing.T) {
				stored := append([]byte(traceOf), kind.store(kind.sent(tc.size))...)
				s := startSink(t, "127.0.0.134:0", false, nil)
				sc := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "small.example", Cost: 1}},
					SmartHosts: []string{s.addr}, MaxMessageSize: limit, TLS: config.TLSNone}
				d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
				defer d.Close()
				m := message("r@small.example")
				m.Size = int64(len(stored))
				res := d.Deliver(context.Background(), m, stored, all(m))
				if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
					t.Fatalf("sender's message of %d bytes (stored %d) through a connector limited to %d: %+v", tc.size, len(stored), limit, res)
				}
				got := s.received()
				if tc.want == queue.RelayedOK && (len(got) != 1 || got[0].body != string(stored)) {
					t.Fatalf("next hop got %d messages, want the stored one", len(got))
				}
				if tc.want != queue.RelayedOK && len(got) != 0 {
					t.Fatalf("next hop got a message refused for its size")
				}
				// Plan, without the body, never refuses what Deliver sends.
				if tc.want == queue.RelayedOK {
					if jobs := d.Plan(context.Background(), m, all(m)); len(jobs) != 1 || jobs[0].Dest != "connector:small" {
						t.Fatalf("Plan: %+v, want the connector", jobs)
					}
				}
			})
		}
	}
}
