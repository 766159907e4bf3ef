package queue

// A failure DSN held on a second server settles the original's copy
// (SR-4, SR-6; rt33 F2; doc.go "Partial discards").
//
// A failure DSN made while other recipients of its message were pending
// owes the partial discard of the recipients it reports to the holder of
// the original's copy when it leaves (reportedcopy.go): until then it is
// on this disk alone, and the copy covers those recipients — this
// server lost for good, the copy's holder takes the original over,
// fails them again and reports it once. Such a DSN is marked held here
// only (enteredsingle.go), and the holders' pass copies it to a shadow
// server of its own. From the commit that names that server as the
// DSN's holder (nameCopyHolder: the copy confirmed, or the first
// listing after an attempt that held it), the DSN is on two disks: this
// server lost, its holder takes the DSN over and sends it. The copy of
// the original must then no longer cover its recipients — its holder's
// takeover would fail them again and the sender would get a second
// failure DSN. So that commit writes their partial discard and drops
// the DSN's entry, as the DSN's leaving does (releaseReported).
//
// One commit: a crash before it leaves the DSN held here only and the
// original's copy covering its recipients (one report: the DSN, or,
// this server lost, the copy's takeover); after it, the DSN on two
// disks and the partial discard owed. A DSN whose copy is lost later
// (its holder returns with another database, or is removed) is marked
// held here only again and copied again, as any message whose holder
// was lost: the sender is told once, by the DSN, unless this server is
// lost too before the copy is made again — two servers lost, as for
// every message. A DSN that never leaves (it fails: the null sender is
// told nothing; it expires; an operator removes it) no longer returns
// its recipients to the original's copy once released: their failure
// was reported by a DSN that could not be delivered, as when it left.

// releasedDSN is a failure DSN m whose holder to was named, and the
// servers the partial discards of the recipients it reports were written
// for in that commit (releaseReported).
type releasedDSN struct {
	m       *Message
	to      string
	servers []string
}

// afterReleased tracks the partial discards the commits naming DSNs'
// holders wrote, once the commit returned. That commit woke the
// sessions of those servers waiting for a notification (owedsignal.go),
// as a DSN's leaving does: left to the server's next question, the
// window in which a loss of this server lets the original's holder fail
// the recipients again stays open for a heartbeat interval.
func (q *Manager) afterReleased(rel []releasedDSN) {
	for _, r := range rel {
		for _, server := range r.servers {
			q.ev.Event("discard", r.m, nil, "partial discard notification for "+server+" prepared: the recipients this DSN reports (the DSN held on "+r.to+")")
		}
	}
}
