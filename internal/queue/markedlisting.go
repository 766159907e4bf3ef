package queue

// The mark of an XQUERYDISCARD reply and the discards it lists, read in
// one read transaction (sr1749). A shadow server keeps a discard that
// comes before its copy on receipt under the mark presented with it, and
// lets it settle the copy only when the copy's own mark (the one its
// commit here raised: PutNew, marks.go) is not above it; a copy above
// is taken for a new one — kept, the discard forgotten (earlystale.go).
// So the mark must prove every copy whose discard the reply lists.
//
// Read in a read of its own before the listing (rrearlymark40 ruled out
// reading it after), it did not: between the two, a copy could be
// committed here and its message delivered — its results, set aside to
// ride along with a later commit (result_commit_delay), are committed by
// the query itself before it lists (commitAside), and the deliveries of
// a receipt burst take milliseconds. Its discard was listed under a mark
// below its copy's; the copy's push, still on its way, was then kept
// there as a new copy while this server forgot the discard once handed:
// a copy no discard settles, taken over and delivered a second time when
// this server is lost (CI run 164,
// TestSR17RepeatPushAfterCutReplyPrimaryDeliversFirst/batch).
//
// Read in the transaction that lists, the mark is exact both ways: a
// discard listed was committed in the state read, and so was its copy
// (the message was delivered after its commit), whose mark is then not
// above it; a copy committed after that state — a new copy of the same
// org id included, made again after the discard (rrearlymark40's case)
// — has a higher mark, and is kept.

// DiscardsMarked lists up to max notifications owed to server as a
// discard query asks for them — partial: the partial ones after the
// full ones (DiscardsPartial); takeover: then the messages given to it
// (DiscardsHandBack); delayed: with the delay notes (DiscardsDelayed) —
// with the rollback mark this server presents to server
// (ShadowHolderMark) read in the same read transaction as the
// notifications (see above). ack forgets what was sent, as theirs does.
func (q *Manager) DiscardsMarked(server string, max int, partial, takeover, delayed bool) (lines []string, mark uint64, ack func()) {
	list := func(partial, delay bool) func(string, int) ([]string, func()) {
		return func(server string, max int) ([]string, func()) {
			l, notes, mk := q.owedMarked(server, max, partial, delay, nil)
			mark = mk
			return l, q.forgetSent(server, l, notes)
		}
	}
	switch {
	case delayed:
		lines, ack = q.handBackAfter(server, max, list(true, true))
	case takeover:
		lines, ack = q.handBackAfter(server, max, list(true, false))
	case partial:
		lines, ack = list(true, false)(server, max)
	default:
		lines, ack = list(false, false)(server, max)
	}
	return lines, mark, ack
}

// DiscardsPartialMarkedFor is DiscardsPartial (with delayed,
// DiscardsPartialDelayed) for a push of the notifications (XDISCARD: a
// stop's, or a hand-over before a 250) with the rollback mark this
// server presents in a session to the shadow server name whose peer
// advertised digest (ShadowHolderMarkFor) read in the same read
// transaction as the notifications. The holder keeps a pushed discard
// that comes before its copy under the mark of the session's XSHADOW,
// read when the session opened: a copy committed here since and
// delivered before the listing was above it, and its discard, pushed,
// let the holder keep that copy (on its way) as a new one. The pusher
// presents the mark read here again before it pushes when it is higher
// (package delivery, handDiscards).
func (q *Manager) DiscardsPartialMarkedFor(name, digest string, max int, delayed bool) (lines []string, mark uint64, ack func()) {
	l, notes, mk := q.owedMarked(name, max, true, delayed, func(tx *Tx) uint64 { return tx.holderMarkForTx(name, digest) })
	return l, mk, q.forgetSent(name, l, notes)
}
