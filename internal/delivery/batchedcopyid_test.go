package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// W-3, SR-5 (deliv26 F3 with a primary below shadow verb version 8): a
// primary that takes one recipient per transaction gets the others in
// further transactions of the same attempt. A version-7 primary's shadow
// id names the message and the primary, so both transactions' copies are
// filed here under one id, in one queue, made by one attempt: the commit
// cannot tell them apart from one transaction's (queue freshCopies spares
// a copy only when the message held one under that id before the attempt,
// or when two queues made it), and a discard the primary wrote when the
// first transaction's record was done — before it stored the second's —
// settles the second copy too while the primary still owes it. Before
// deliv26 the refused recipient went in a later attempt, which freshCopies
// spares ("its recipients relayed there by an earlier attempt: a 452 at
// RCPT"). One attempt must not make two copies under one id at such a
// primary.
func TestBatchedRelayToVersion7PrimaryNeedsOwnAttempt(t *testing.T) {
	var mu sync.Mutex
	var ids, cmds []string
	inTx := 0
	addr := scriptedPrimaryAs(t, "XSHADOW 7", func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		cmds = append(cmds, strings.SplitN(cmd, " ", 2)[0])
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			return "250 primary-db\r\n"
		case strings.HasPrefix(cmd, "MAIL"):
			inTx = 0
			if _, id, ok := strings.Cut(cmd, " XSHADOW="); ok {
				id, _, _ = strings.Cut(id, " ")
				ids = append(ids, id)
			}
		case strings.HasPrefix(cmd, "RCPT"):
			inTx++
			if inTx > 1 {
				return "452 4.5.3 Too many recipients\r\n"
			}
		case strings.HasPrefix(cmd, "XQUERYDISCARD"):
			return "250 2.0.0 0 discard notifications\r\n"
		}
		return "250 2.0.0 ok\r\n"
	})
	d := shadowDeliverer(t, addr, &shadowRecorder{})
	m := message("a@example.net", "b@example.net")
	res := d.Deliver(context.Background(), m, body, all(m))
	type key struct{ primary, sid, queue string }
	copies := map[key][]int{}
	for _, r := range res {
		if r.Outcome == queue.ShadowedOK {
			k := key{r.Primary, r.ShadowID, r.Queue}
			copies[k] = append(copies[k], r.Rcpt)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("MAIL XSHADOW ids: %v; commands: %v", ids, cmds)
	for k, rc := range copies {
		n := 0
		for _, id := range ids {
			if strings.EqualFold(id, k.sid) {
				n++
			}
		}
		if n > 1 {
			t.Errorf("one attempt made %d copies at a version-7 primary under one shadow id %s (recipients %v, queue %s): a discard for the first settles the second while the primary still owes it", n, k.sid, rc, k.queue)
		}
	}
}

// The same with a version-8 primary: each transaction's copy has an id
// of its own, so the refused recipient still goes at once (deliv26 F3),
// in a second transaction under a second id.
func TestBatchedRelayToVersion8PrimaryGoesAtOnce(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	inTx := 0
	addr := scriptedPrimaryAs(t, "XSHADOW 8", func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			return "250 primary-db\r\n"
		case strings.HasPrefix(cmd, "MAIL"):
			inTx = 0
			if _, id, ok := strings.Cut(cmd, " XSHADOW="); ok {
				id, _, _ = strings.Cut(id, " ")
				ids = append(ids, id)
			}
		case strings.HasPrefix(cmd, "RCPT"):
			inTx++
			if inTx > 1 {
				return "452 4.5.3 Too many recipients\r\n"
			}
		case strings.HasPrefix(cmd, "XQUERYDISCARD"):
			return "250 2.0.0 0 discard notifications\r\n"
		}
		return "250 2.0.0 ok\r\n"
	})
	d := shadowDeliverer(t, addr, &shadowRecorder{})
	m := message("a@example.net", "b@example.net")
	res := d.Deliver(context.Background(), m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if len(res) != 2 || res[0].Outcome != queue.ShadowedOK || res[1].Outcome != queue.ShadowedOK ||
		res[0].ShadowID == res[1].ShadowID || len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("results %+v, ids %v", res, ids)
	}
}
