package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// SMTP-5, RT-7 (README "What a size limit measures"): the bytes the
// receiving session recorded as its own (queue.Message.Grown: its
// Authentication-Results field, a CR before each bare LF, the empty line
// between the header fields and a first line that is no field, the line
// break and empty line after a header section alone sent without a
// final CRLF) are not counted against a send connector's
// max_message_size, by Deliver (to a real listener, over SMTP: the body
// is sent as stored) and by Plan alike: a sender's message of exactly
// the limit is relayed, one byte more refused 552 5.3.4. A record that
// knows it added nothing has no byte of the sender's taken off — not
// the empty line of a header section alone that its sender wrote itself
// (sealedLen's guess, for records that do not know).
func TestRecordedGrowthNotCountedAgainstLimits(t *testing.T) {
	const limit = 4000
	const ar = "Authentication-Results: mx.umbra.test; dkim=none\r\n"
	bareLF := func(n int) (content []byte, grown int64) {
		b := "Subject: bare\r\n\r\n"
		for len(b)+80 < n {
			b += strings.Repeat("y", 79) + "\n"
		}
		sent := b + strings.Repeat("z", n-len(b)-2) + "\r\n"
		k := strings.Count(sent, "\n") - strings.Count(sent, "\r\n")
		stored := ar + strings.ReplaceAll(strings.ReplaceAll(sent, "\r\n", "\n"), "\n", "\r\n")
		return []byte(stored), int64(len(ar) + k)
	}
	fieldsNoCRLF := func(n int) ([]byte, int64) {
		sent := headerOnly(n + 2) // n bytes without its final CRLF
		return append([]byte(ar), append(sent, '\r', '\n')...), int64(len(ar) + 4)
	}
	noEmptyLine := func(n int) ([]byte, int64) {
		sent := headerLess(n - len("Subject: s\r\n"))
		return []byte(ar + "Subject: s\r\n\r\n" + string(sent)), int64(len(ar) + 2)
	}
	ownEmptyLine := func(n int) ([]byte, int64) { // the sender wrote the empty line: nothing added
		return append(headerOnly(n-2), '\r', '\n'), 0
	}
	for _, kind := range []struct {
		name  string
		store func(n int) ([]byte, int64) // the content stored for a sender's n bytes, and umbra's part of it
	}{
		{"bare LF normalised", bareLF},
		{"fields alone, no CRLF", fieldsNoCRLF},
		{"no empty line", noEmptyLine},
		{"empty line the sender's", ownEmptyLine},
	} {
		for _, tc := range []struct {
			size  int
			want  queue.Outcome
			reply string
		}{
			{limit, queue.RelayedOK, "250"},
			{limit + 1, queue.FailedPerm, "552 5.3.4 message size"},
		} {
			t.Run(fmt.Sprintf("%s/%d", kind.name, tc.size), func(t *testing.T) {
				content, grown := kind.store(tc.size)
				if int64(len(content))-grown != int64(tc.size) {
					t.Fatalf("fixture: %d bytes stored, %d umbra's, want %d sent", len(content), grown, tc.size)
				}
				stored := append([]byte(traceOf), content...)
				s := startSink(t, testsupport.AddrInRange(t, "127.0.0.152", 8200, 200), false, nil)
				sc := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "small.example", Cost: 1}},
					SmartHosts: []string{s.addr}, MaxMessageSize: limit, TLS: config.TLSNone}
				d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
				defer d.Close()
				m := message("r@small.example")
				m.Size, m.Grown, m.GrownKnown = int64(len(stored)), grown, true
				if jobs := d.Plan(context.Background(), m, all(m)); tc.want == queue.RelayedOK && (len(jobs) != 1 || jobs[0].Dest != "connector:small") {
					t.Fatalf("Plan: %+v, want the connector", jobs)
				}
				res := d.Deliver(context.Background(), m, stored, all(m))
				if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
					t.Fatalf("sender's message of %d bytes (stored %d, %d umbra's) through a connector limited to %d: %+v", tc.size, len(stored), grown, limit, res)
				}
				got := s.received()
				if tc.want == queue.RelayedOK && (len(got) != 1 || got[0].body != string(stored)) {
					t.Fatalf("next hop got %d messages, want the stored one", len(got))
				}
				if tc.want != queue.RelayedOK && len(got) != 0 {
					t.Fatalf("next hop got a message refused for its size")
				}
			})
		}
	}
}
