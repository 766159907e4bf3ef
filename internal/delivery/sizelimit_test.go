package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// traceOf is the trace field an umbra server writes in front of a
// message it receives (smtp session.receivedHeader), for a test's
// stored body.
const traceOf = "Received: from client.example.org ([192.0.2.7])\r\n\tby mx.umbra.test (umbra) with ESMTPS id 0000000000BEEF\r\n\tfor <r@small.example>;\r\n\tTue, 01 Dec 2026 10:00:00 +0000\r\n"

// senderMessage is a message of exactly n bytes as a sender sends it.
func senderMessage(n int) []byte {
	b := []byte("Subject: size\r\n\r\n")
	for len(b)+80 < n {
		b = append(b, strings.Repeat("x", 76)+"\r\n"...)
	}
	return append(b, strings.Repeat("y", n-len(b)-2)+"\r\n"...)
}

// TestConnectorSizeLimitIsTheSendersMessage: a send connector's
// max_message_size is the limit of the message as umbra received it
// from its sender — the trace field umbra adds itself is not counted —
// so a message exactly at the limit is relayed (over SMTP, to a real
// listener) and one byte more is refused with 552 5.3.4. The next hop's
// own SIZE is held to what umbra sends, trace field included: a next hop
// advertising exactly that size takes it, one byte less refuses it.
func TestConnectorSizeLimitIsTheSendersMessage(t *testing.T) {
	const limit = 4000
	for _, tc := range []struct {
		name    string
		size    int   // the sender's message
		hopSize int64 // the next hop's SIZE, relative to what umbra sends (0: none)
		want    queue.Outcome
		reply   string
	}{
		{"at the limit", limit, 0, queue.RelayedOK, "250"},
		{"one byte over", limit + 1, 0, queue.FailedPerm, "552 5.3.4 message size"},
		{"at the next hop's SIZE", limit, 1, queue.RelayedOK, "250"},
		{"one byte over the next hop's SIZE", limit, -1, queue.FailedPerm, "552"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := append([]byte(traceOf), senderMessage(tc.size)...)
			s := startSink(t, "127.0.0.2:0", false, nil)
			sent := int64(len(stored)) // no org id line: the message leaves the organisation
			switch {
			case tc.hopSize > 0:
				s.srv.MaxMessageBytes = sent
			case tc.hopSize < 0:
				s.srv.MaxMessageBytes = sent - 1
			}
			sc := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "small.example", Cost: 1}},
				SmartHosts: []string{s.addr}, MaxMessageSize: limit, TLS: config.TLSNone}
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
			defer d.Close()
			m := message("r@small.example")
			m.Size = int64(len(stored)) // as the queue records it: the stored body
			res := d.Deliver(context.Background(), m, stored, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
				t.Fatalf("message of %d bytes (stored %d) through a connector limited to %d: %+v", tc.size, len(stored), limit, res)
			}
			got := s.received()
			if tc.want == queue.RelayedOK && (len(got) != 1 || got[0].body != string(stored)) {
				t.Fatalf("next hop got %d messages, want the stored one with its trace field: %.300q", len(got), got[0].body)
			}
			if tc.want != queue.RelayedOK && len(got) != 0 {
				t.Fatalf("next hop got a message refused for its size")
			}
		})
	}
}

// ownTraceLen discounts umbra's own trace field only: the first field,
// in umbra's form, whole; never a field of the sender's.
func TestOwnTraceLen(t *testing.T) {
	msg := "Subject: x\r\n\r\nbody\r\n"
	pickup := "Received: from pickup directory\r\n\tby hub.test (umbra) with local id 00000000000001;\r\n\tTue, 01 Dec 2026 10:00:00 +0000\r\n"
	for _, tc := range []struct {
		body string
		want int
	}{
		{traceOf + msg, len(traceOf)},
		{pickup + msg, len(pickup)},
		{msg, 0},
		{"Subject: x\r\n" + traceOf + "\r\nbody\r\n", 0},                                                       // not the first field: the sender's
		{"Received: from a\r\n\tby b (other) with ESMTP;\r\n\tdate\r\n" + msg, 0},                              // not umbra's form
		{"Received: from a\r\n\tby b (umbra) with ESMTP;\r\n\t" + strings.Repeat("z", 3000) + "\r\n" + msg, 0}, // too long to be umbra's
		{traceOf[:40], 0}, // cut short
	} {
		if got := ownTraceLen([]byte(tc.body)); got != tc.want {
			t.Errorf("ownTraceLen(%.60q) = %d, want %d", tc.body, got, tc.want)
		}
	}
}

func FuzzOwnTraceLen(f *testing.F) {
	f.Add([]byte(traceOf + "Subject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Received: from a\n by b (umbra) with x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := ownTraceLen(b)
		if n < 0 || n > len(b) || n > maxOwnTrace {
			t.Fatalf("ownTraceLen = %d of %d bytes", n, len(b))
		}
		if n > 0 && (b[n-1] != '\n' || !strings.HasPrefix(string(b), "Received: from ") || n < len(b) && (b[n] == ' ' || b[n] == '\t')) {
			t.Fatalf("ownTraceLen = %d is not a whole first field: %q", n, b)
		}
	})
}

// Plan, without the body, never refuses for its size a message Deliver
// would send: within maxOwnTrace over a limit it gives the recipient
// its destination, and Deliver, with the body, decides.
func TestPlanSizeNeverStricterThanDeliver(t *testing.T) {
	small := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "small.example", Cost: 1}},
		SmartHosts: []string{"127.0.0.1:1"}, MaxMessageSize: 4000}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, small)
	stored := append([]byte(traceOf), senderMessage(4000)...)
	m := message("r@small.example")
	m.Size = int64(len(stored))
	if jobs := d.Plan(context.Background(), m, all(m)); len(jobs) != 1 || jobs[0].Dest != "connector:small" {
		t.Fatalf("a message at the limit as received: %+v, want its destination", jobs)
	}
}

// traceOfHub is the trace field another hub of the organisation wrote.
const traceOfHub = "Received: from hub-a.test ([127.0.0.7])\r\n\tby hub-b.test (umbra) with ESMTPS id 0000000000BEF0;\r\n\tTue, 01 Dec 2026 10:00:01 +0000\r\n"

// Across hubs: hub-a took a message at exactly its limit and relayed it
// to hub-b, whose topology send connector has the same limit. hub-b
// does not count the trace fields of the organisation's hops (its own
// and hub-a's) and relays it over SMTP; one byte more is refused. The
// same two fields from a client outside the organisation are one of
// umbra's and one of the sender's: the sender's counts.
func TestTopologySizeLimitAcrossHubs(t *testing.T) {
	const limit = 4000
	s := startSink(t, "127.0.0.2:0", false, nil)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.8:25"}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b"}, SmartHosts: []string{s.addr}, MaxSize: limit, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-b.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-b",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name   string
		size   int
		client string
		want   queue.Outcome
	}{
		{"from hub-a, at the limit", limit, "127.0.0.7", queue.RelayedOK},
		{"from hub-a, one byte over", limit + 1, "127.0.0.7", queue.FailedPerm},
		{"from outside, a field in umbra's form", limit, "192.0.2.9", queue.FailedPerm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := append([]byte(traceOf+traceOfHub), senderMessage(tc.size)...)
			m := message("r@remote.example")
			m.Size, m.ClientIP, m.OrgID = int64(len(stored)), tc.client, orgid.New()
			res := d.Deliver(context.Background(), m, stored, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want {
				t.Fatalf("%+v", res)
			}
			if tc.want == queue.FailedPerm && !strings.HasPrefix(res[0].Reply, "552 5.3.4") {
				t.Fatalf("refused with %q, want 552 5.3.4", res[0].Reply)
			}
		})
	}
}
