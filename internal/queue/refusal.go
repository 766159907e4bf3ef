package queue

import (
	"strconv"
	"strings"
	"time"
)

// Refusal is the reply a sender still waiting for delayed
// acknowledgement (SR-9) gets instead of a 250 when every recipient of
// its message was refused permanently: no accept-then-bounce (SMTP-7).
type Refusal struct {
	Code     int    // 5xx
	Enhanced [3]int // e.g. 5.1.1
	Text     string
}

// refusalHold is a waiting sender's standing offer to take a refusal.
// Under Manager.rfmu: claimed by finish (then reply is sent exactly
// once on ch), or withdrawn by the sender's release.
type refusalHold struct {
	claimed bool
	left    bool // the sender closed its connection before its reply (SenderLeft)
	ch      chan *Refusal
	in      Inside // where the organisation ends, when claimed (refusalOf)
}

// HoldRefusal registers a sender that waits for message id's
// confirmation. The returned release ends the offer: it returns nil when
// no refusal was taken on (answer 250, a DSN reports any failure), or
// the refusal to answer with; finish then generated no failure DSN for
// the refused recipients. A refusal is taken on only when every
// recipient of the message was refused in one attempt; if only some
// were, the sender gets its 250 and the DSN names the refused ones.
func (q *Manager) HoldRefusal(id ID) (release func() *Refusal) {
	h := &refusalHold{ch: make(chan *Refusal, 1)}
	q.rfmu.Lock()
	if q.refusals == nil {
		q.refusals = map[ID]*refusalHold{}
	}
	q.refusals[id] = h
	q.rfmu.Unlock()
	return func() *Refusal {
		q.rfmu.Lock()
		claimed := h.claimed
		if !claimed && q.refusals[id] == h {
			delete(q.refusals, id)
		}
		q.rfmu.Unlock()
		if !claimed {
			return nil
		}
		// finish sends right after its commit; the bound only guards the
		// session against a finish that never returns.
		t := time.NewTimer(refusalWait)
		defer t.Stop()
		select {
		case r := <-h.ch:
			return r
		case <-t.C:
			return nil
		}
	}
}

// SenderLeft records that the sender waiting for message id's
// confirmation closed its connection before any reply: its offer stands
// (no 250 was given, so a refusal of every recipient is still no
// accept-then-bounce and gets no DSN), but the refusal reaches nobody,
// and the log says so rather than that the sender got it. Memory only:
// after a restart the message is one whose sender waits no more, as
// every message is.
func (q *Manager) SenderLeft(id ID) {
	q.rfmu.Lock()
	if h := q.refusals[id]; h != nil {
		h.left = true
	}
	q.rfmu.Unlock()
}

// refusalWait bounds a sender's wait for the commit of a claimed refusal.
const refusalWait = time.Minute

// claimRefusal takes on a waiting sender's offer when every recipient
// of m failed in this attempt (failed lists them). The caller must then
// call answer exactly once, after its commit.
func (q *Manager) claimRefusal(m *Message, failed []int) *refusalHold {
	if len(failed) == 0 || len(failed) != len(m.Rcpts) {
		return nil
	}
	q.rfmu.Lock()
	defer q.rfmu.Unlock()
	h := q.refusals[m.ID]
	if h == nil {
		return nil
	}
	delete(q.refusals, m.ID)
	h.claimed, h.in = true, q.policy().Inside
	return h
}

// answer gives the waiting sender its refusal, or nil (answer 250 as
// usual) when the results could not be committed: the message is then
// tried again after a restart, and bounced if it fails again.
func (h *refusalHold) answer(m *Message, committed bool) {
	if h == nil {
		return
	}
	if !committed {
		h.ch <- nil
		return
	}
	h.ch <- refusalOf(m, h.in)
}

// refusalOf builds the reply from the recipients' last replies: the next
// hop's own code and enhanced code when all agree, else 554 5.0.0. Each
// reply is quoted to the sender as a DSN quotes it (shownReply): to a
// sender outside the organisation, umbra's own diagnostic and the reply
// of a server inside it are described by status and reason.
func refusalOf(m *Message, in Inside) *Refusal {
	var out *Refusal
	for _, r := range m.Rcpts {
		code, enh, text := splitReply(shownReply(m, r, NotifyFailure, in))
		if code < 500 || code > 599 {
			code, enh, text = 554, [3]int{5, 0, 0}, "refused by the next hop"
		}
		if out == nil {
			out = &Refusal{Code: code, Enhanced: enh, Text: text}
			if len(m.Rcpts) > 1 {
				out.Text = "all recipients refused by the next hop: " + text
			}
			continue
		}
		if code != out.Code || enh != out.Enhanced {
			return &Refusal{Code: 554, Enhanced: [3]int{5, 0, 0}, Text: "all recipients refused by the next hop"}
		}
	}
	return out
}

// splitReply parses "550 5.1.1 text" (text cut to printable ASCII, at
// most 200 octets). A missing or malformed enhanced code becomes x.0.0.
func splitReply(s string) (int, [3]int, string) {
	f := strings.SplitN(s, " ", 3)
	code, err := strconv.Atoi(f[0])
	if err != nil || len(f[0]) != 3 {
		return 0, [3]int{}, ""
	}
	enh := [3]int{code / 100, 0, 0}
	rest := strings.Join(f[1:], " ")
	if len(f) > 1 {
		if p := strings.Split(f[1], "."); len(p) == 3 {
			a, e1 := strconv.Atoi(p[0])
			b, e2 := strconv.Atoi(p[1])
			c, e3 := strconv.Atoi(p[2])
			if e1 == nil && e2 == nil && e3 == nil && a == code/100 && b >= 0 && b < 1000 && c >= 0 && c < 1000 {
				enh, rest = [3]int{a, b, c}, strings.Join(f[2:], " ")
			}
		}
	}
	rest = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, rest)
	if len(rest) > 200 {
		rest = rest[:200]
	}
	if rest == "" {
		rest = "refused by the next hop"
	}
	return code, enh, rest
}

// refusalWaits reports whether a sender waits for message id's
// refusal (HoldRefusal): its recipients' failures are the attempt's
// end's to commit, which decides between the refusal and a DSN
// (jobcommit.go).
func (q *Manager) refusalWaits(id ID) bool {
	q.rfmu.Lock()
	defer q.rfmu.Unlock()
	return q.refusals[id] != nil
}
