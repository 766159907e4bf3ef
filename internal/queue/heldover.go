package queue

import "strings"

// A hold and the next hop's last reply (dsnlast47).
//
// A recipient held in a queue the operator suspended has the hold's
// note as its last reply (HeldReply): the scheduling and the views read
// it there (heldBy), and a resume or redirect ends it. The reply the
// next hop gave the recipient before the hold — "451 4.7.1 greylisted",
// a connection refused — is the real cause the sender and the operator
// need when the message expires or gets its delay notice while held: it
// is kept apart in the record (Recipient.HopReply, HopHost; record
// version 4), set where a hold's note replaces it (holdOver) and given
// back where the hold ends (unhold). The DSNs quote it — Remote-MTA,
// Diagnostic-Code, the text part, a delay's Status — and mention the
// hold beside it (withRealReplies, heldMention); the expiry writes it as
// its last reply with the hold in its words (expiredHeldReply); the
// operator's views show both (ShownReply, CurrentError). A recipient no
// hop has answered keeps the hold alone, as before: there is no other
// cause to report.

// holdOver makes note, a hold's reply, rc's last reply (carrying a
// taken-over copy's note: carryTakeover) with no host beside it, and
// keeps the next hop's last reply and host apart (HopReply, HopHost): a
// host's reply the recipient had, or the one a dead or busy
// destination's mark carries (realReply). A recipient held already
// keeps the reply kept at its hold; one whose last reply was umbra's
// own note, a takeover's or none keeps none.
func holdOver(rc *Recipient, note string) {
	if heldBy(rc.LastReply) == "" {
		rc.HopReply, rc.HopHost = "", ""
		if last := realReply(rc.LastReply); hopsReply(last) {
			rc.HopReply, rc.HopHost = last, rc.NextHop
		}
	}
	rc.LastReply, rc.NextHop = carryTakeover(rc.LastReply, note), ""
}

// hopsReply reports whether reply is one a next hop gave a recipient
// (or umbra's words on its attempt at that hop: it did not answer, it
// refused the connection), not umbra's note on a recipient it did not
// try, a taken-over copy's note, nor no result.
func hopsReply(reply string) bool {
	return reply != "" && !umbraNote(reply) && !strings.HasPrefix(reply, takeoverPrefix) &&
		reply != noResultReply && !expiredUnsent(reply)
}

// unhold ends rc's hold: its last reply is the next hop's it kept
// (HopReply) and that host, or what a taken-over copy keeps
// (takeoverLeft) when none was kept.
func unhold(rc *Recipient) {
	if rc.HopReply != "" && !carriesTakeover(rc.LastReply) {
		rc.LastReply, rc.NextHop = rc.HopReply, rc.HopHost
	} else {
		rc.LastReply = takeoverLeft(rc.LastReply)
	}
	rc.HopReply, rc.HopHost = "", ""
}

// heldHopReply is the next hop's last reply and host kept apart from
// r's hold (HopReply), ok false when r is not held or none was kept.
func heldHopReply(r Recipient) (queue, reply, host string, ok bool) {
	queue = heldBy(r.LastReply)
	if queue == "" || r.HopReply == "" {
		return "", "", "", false
	}
	return queue, r.HopReply, r.HopHost, true
}

// heldExpiryLead and heldExpiryTail surround the suspended queue's name
// in an expiry's reply whose last reply is the next hop's, kept beside
// a hold (expiredHeldReply).
const heldExpiryLead, heldExpiryTail = " while its queue ", " was suspended by the administrator"

// expiredHeldReply is the reply of a recipient that expired held in
// queue, suspended, after its next hop last answered it with last:
// "550 5.4.7 message expired after 1m0s while its queue mx:d was
// suspended by the administrator; last reply: 451 4.7.1 greylisted".
// splitExpired reads last as its last reply, as for any expiry.
func expiredHeldReply(code, queue string, age string, last string) string {
	return code + expiredText + age + heldExpiryLead + queue + heldExpiryTail + lastReplyText + last
}

// heldAtExpiry undoes expiredHeldReply: the suspended queue, and the
// reply without the hold's words (an expiry's as any other); ok false
// for another reply.
func heldAtExpiry(reply string) (queue, plain string, ok bool) {
	code, last, ok := splitExpired(reply)
	if !ok {
		return "", reply, false
	}
	head, _, _ := strings.Cut(strings.TrimPrefix(reply, code+expiredText), lastReplyText)
	age, rest, ok := strings.Cut(head, heldExpiryLead)
	if !ok {
		return "", reply, false
	}
	queue, ok = strings.CutSuffix(rest, heldExpiryTail)
	if !ok || queue == "" {
		return "", reply, false
	}
	return queue, code + expiredText + age + lastReplyText + last, true
}

// heldMention is what a DSN's text part adds to the next hop's reply of
// a recipient held in queue (heldHopReply, heldAtExpiry): the hold,
// named to a sender inside the organisation, in words to one outside
// (its queue's name may be the organisation's own: heldDescribed).
func heldMention(queue string, kind Notify, inside bool) string {
	which := "its delivery queue"
	by := "the administrator of this server"
	if inside {
		which, by = "queue "+queue, "the administrator"
	}
	if kind == NotifyFailure {
		return "; " + which + " was suspended by " + by + " when the message expired"
	}
	return "; " + which + " is suspended by " + by
}

// heldShown is what the operator reads of r's reply (ShownReply,
// CurrentError): the hold, then the next hop's last reply it kept
// apart, when it kept one; reply unchanged otherwise.
func heldShown(r Recipient, reply string) string {
	if _, last, _, ok := heldHopReply(r); ok && reply == r.LastReply {
		return reply + lastReplyText + last
	}
	return reply
}

// HeldLastReply is the next hop's last reply of m's recipients still
// to deliver, m being held in suspended queues (the views' state
// "held"): the one kept beside a recipient's hold (HopReply), or, of a
// recipient whose record has no hold written yet (a claim that found
// its queue suspended leaves the record as it was until a DSN falls
// due), its own last reply when a next hop gave it — the newest
// deferral's (m's last error) first, else the first recipient's; ""
// when there is none. The views put it after the hold they give as m's
// last error, so the operator reads the real cause beside the
// suspension (dsnlast47).
func HeldLastReply(m *Message) string {
	first := ""
	for i := range m.Rcpts {
		r := m.Rcpts[i]
		if r.Status.Done() {
			continue
		}
		last, newest := "", false
		if _, hop, _, ok := heldHopReply(r); ok {
			last, newest = hop, r.LastReply == m.LastError
		} else if real := realReply(r.LastReply); heldBy(r.LastReply) == "" && hopsReply(real) {
			last, newest = real, r.LastReply == m.LastError
		}
		if last == "" {
			continue
		}
		if newest {
			return last
		}
		if first == "" {
			first = last
		}
	}
	return first
}
