package delivery

import (
	"fmt"

	"umbra/internal/header"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// hopLimit fails a relay group's recipients with 5.4.6 when the next hop
// would count more Received: headers than max_hop_count: the message
// leaves with the ones it carries (this server's included) and the next
// hop adds its own, as an umbra hop does before it counts. So a relay
// never hands an umbra hop with the same limit a message it must refuse
// (rt44 M1); where mail enters the organisation the receive side leaves
// room for its hops (internal/smtp policy.go), so this fires only on a
// loop. Final delivery (the local store, an organisation mailbox server)
// is not relaying and is not limited here. The failure is permanent, so
// the sender gets a DSN (if it asked for failures) — except for a ring
// of servers of the organisation (orgRing, orgloop.go): a message that
// came from one, goes to one and was here before is deferred with 4.4.6,
// the configuration's loop the mail waits out while it is fixed.
func (d *Deliverer) hopLimit(st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	if st.cfg.MaxHopCount <= 0 || g.key == "local" || g.db != "" {
		return nil
	}
	n := header.Count(body, "Received")
	if n+1 <= st.cfg.MaxHopCount {
		return nil
	}
	if res := d.orgRing(st, m, body, g, n); res != nil {
		return res
	}
	return failAll(g.rcpts, g.queue, fmt.Sprintf("554 5.4.6 too many hops: %d Received: headers and the next hop's, max_hop_count %d (mail loop)", n, st.cfg.MaxHopCount))
}

// deliveredBefore reports a mail loop at final delivery: the message
// arrived carrying a Delivered-To that names this recipient, so it was
// delivered to this mailbox before and came back.
func deliveredBefore(m *queue.Message, body []byte, i int, hop string) (queue.Result, bool) {
	addr := m.Rcpts[i].Addr
	if !smtp.HasFieldAddress(body, "Delivered-To", addr) { // read as RCPT reads the path

		return queue.Result{}, false
	}
	return queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: hop,
		Reply: "554 5.4.6 mail loop: the message was delivered to " + addr + " before (Delivered-To)"}, true
}

// loopsAmong splits rcpts into those that loop (their results) and the
// rest.
func loopsAmong(m *queue.Message, body []byte, rcpts []int, hop string) (loops []queue.Result, rest []int) {
	for _, i := range rcpts {
		if r, loop := deliveredBefore(m, body, i, hop); loop {
			loops = append(loops, r)
		} else {
			rest = append(rest, i)
		}
	}
	return loops, rest
}

// withoutTrace is body without arriving Return-Path and Delivered-To
// fields: at final delivery they are written from umbra's envelope, by
// the Maildir store or by the LMTP server (which adds both, per
// recipient, from MAIL FROM and RCPT TO, as Dovecot does; adding them
// here too would give the mailbox two of each).
func withoutTrace(body []byte) []byte { return header.Remove(body, "Return-Path", "Delivered-To") }
