package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// rt28d F3: a next hop that took the whole message and then says
// nothing is reported as what happened — "timed out after 1s waiting
// for the reply to the end of the message" (the configured
// data_timeout) —, not as a connection lost with a socket's words; a
// reply that cannot be parsed as "unreadable reply"; a connection the
// next hop closed after the dot stays "connection lost during DATA".
// The same in lock-step and pipelined transactions. The queue's DSNs
// tell the sender that such a host may have the message already — an
// unreadable reply's too (queue TestDSNSaysTheHostMayHaveIt). Q-3, SMTP-1.
func TestFinalReplyMissingSaysWhatHappened(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		for _, c := range []struct {
			afterDot, want, not string
			mayHave             bool // the DSN says the host may have it (queue.MayHaveArrived)
		}{
			{"silent", ": timed out after 1s waiting for the reply to the end of the message", "i/o timeout", true},
			{"2x0 what\r\n", ": unreadable reply to the end of the message: ", "connection lost", true},
			{"close", ": connection lost during DATA: reply to the end of the message: EOF", "timed out", true},
		} {
			name := strings.Fields(c.afterDot)[0]
			if pipelined {
				name += " pipelined"
			}
			t.Run(name, func(t *testing.T) {
				h := &scriptHop{afterDot: c.afterDot}
				if pipelined {
					h.ext = []string{"PIPELINING"}
				}
				startScriptHop(t, h)
				sc := config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
					SmartHosts: []string{h.addr}, TLS: config.TLSNone}
				d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
				d.st.Load().cfg.DataTimeout = time.Second
				m := message("h2@hang.test")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 1 || res[0].Outcome != queue.Deferred {
					t.Fatalf("results: %+v\ncommands: %q", res, h.commands())
				}
				r := res[0].Reply
				if !strings.HasPrefix(r, "451 4.4.2 ") || !strings.Contains(r, c.want) || strings.Contains(r, c.not) {
					t.Fatalf("reply %q, want 451 4.4.2 HOST%s (not %q)", r, c.want, c.not)
				}
				if got := queue.MayHaveArrived(r); got != c.mayHave {
					t.Errorf("queue.MayHaveArrived(%q) = %v, want %v", r, got, c.mayHave)
				}
			})
		}
	}
}

// rt28d F2, its sibling at the opening: command_timeout bounds each
// step of a session's opening — the greeting, EHLO, STARTTLS and the
// EHLO over TLS — as the README says ("each outbound command's reply"),
// not all of them together: a next hop that takes 60% of it at each
// step is slow, not dead, and gets the message. SMTP-1.
func TestCommandTimeoutBoundsEachOpeningStep(t *testing.T) {
	h := &scriptHop{slow: 1200 * time.Millisecond, tls: hopTLS(t)}
	startScriptHop(t, h)
	sc := config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{h.addr}, TLS: config.TLSRequired}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.CommandTimeout = 2 * time.Second
	m := message("slow@hang.test")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("results: %+v\ncommands: %q", res, h.commands())
	}
}
