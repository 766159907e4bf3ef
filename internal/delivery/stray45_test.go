package delivery

import (
	"context"
	"fmt"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// Q-6 (rd deliv45): a stray 3xx to MAIL (a "354" where a 2xx, 4xx or
// 5xx belongs) ends the session, but the host answered: its result says
// so (Answered) and its words are queue.StrayReply's, which the queue
// reads back as a host that answered after a restart (HostsAnswered,
// destFailure) — lock-step and pipelined alike. Before, the pipelined
// transaction's stray (read by umbra's own reply reader) was deferred
// "451 4.4.2 HOP: reply to MAIL: unexpected reply …", words no reading
// of the queue knows: after a restart it was umbra's 4.4.2 on a session
// that broke, its destination shown failing.
func TestQ6StrayReplyWordsAreTheConstructorsPipelinedToo(t *testing.T) {
	for k, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			ln := testsupport.Listen(t, fmt.Sprintf("127.0.0.193:%d", 46521+k))
			s := startStepServerOn(t, ln, pipelining, func(conn, txn int, cmd string) string {
				if cmd == "MAIL" {
					return "354 go ahead"
				}
				return ""
			})
			d := stepDeliverer(t, s)
			m := message("a@example.net", "b@example.net")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 2 {
				t.Fatalf("results %+v, want one per recipient", res)
			}
			want := queue.StrayReply(res[0].NextHop, `"354 go ahead"`)
			for _, r := range res {
				if r.Outcome != queue.Deferred || !r.Answered {
					t.Errorf("%s: %v answered=%v, want deferred, the host answered", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Answered)
				}
				if r.Reply != want {
					t.Errorf("%s: deferred %q, want %q (queue.StrayReply)", m.Rcpts[r.Rcpt].Addr, r.Reply, want)
				}
				if !queue.HostsAnswered(r.Reply, r.NextHop) {
					t.Errorf("%s: %q is not read as a host that answered (after a restart: a failed contact)", m.Rcpts[r.Rcpt].Addr, r.Reply)
				}
			}
		})
	}
}
