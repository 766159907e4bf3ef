package delivery

import (
	"context"
	"fmt"
	"strings"

	"umbra/internal/header"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// hopLimit fails a relay group's recipients with 5.4.6 when the message
// carries more Received: headers than max_hop_count: it would loop on.
// Final delivery (the local store, an organisation mailbox server) is
// not relaying and is not limited here. The failure is permanent, so the
// sender gets a DSN (if it asked for failures).
func hopLimit(st *state, body []byte, g *group) []queue.Result {
	if st.cfg.MaxHopCount <= 0 || g.key == "local" || g.db != "" {
		return nil
	}
	n := header.Count(body, "Received")
	if n <= st.cfg.MaxHopCount {
		return nil
	}
	return failAll(g.rcpts, g.queue, fmt.Sprintf("554 5.4.6 too many hops: %d Received: headers, max_hop_count %d (mail loop)", n, st.cfg.MaxHopCount))
}

// deliveredBefore reports a mail loop at final delivery: the message
// arrived carrying a Delivered-To that names this recipient, so it was
// delivered to this mailbox before and came back.
func deliveredBefore(m *queue.Message, body []byte, i int, hop string) (queue.Result, bool) {
	addr := m.Rcpts[i].Addr
	if !header.HasAddress(body, "Delivered-To", addr) {
		return queue.Result{}, false
	}
	return queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: hop,
		Reply: "554 5.4.6 mail loop: the message was delivered to " + addr + " before (Delivered-To)"}, true
}

// lmtpEach runs one LMTP transaction per recipient on c, so that each
// copy carries a Delivered-To naming its own recipient. A lost
// connection defers the recipients not yet tried.
func (d *Deliverer) lmtpEach(ctx context.Context, st *state, c *smtp.Client, hop string, m *queue.Message, body []byte, rcpts []int) []queue.Result {
	var out []queue.Result
	for k, i := range rcpts {
		res := d.transaction(ctx, st, c, hop, m, body, []int{i}, true)
		out = append(out, res...)
		if len(res) == 1 && res[0].Outcome == queue.Deferred && strings.HasPrefix(res[0].Reply, "451 4.4.2") {
			return append(out, deferAll(rcpts[k+1:], hop, res[0].Reply)...)
		}
	}
	return out
}

// withoutTrace is body without arriving Return-Path and Delivered-To
// fields: at final delivery they are umbra's own, and the Maildir store
// puts them in front.
func withoutTrace(body []byte) []byte { return header.Remove(body, "Return-Path", "Delivered-To") }
