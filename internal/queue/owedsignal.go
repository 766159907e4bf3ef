package queue

import "slices"

// The wake of a waiting long poll (XQUERYDISCARD WAIT=, discardsignal.go)
// belongs to the writing of what it waits for, not to each path that
// writes it (rt44 shadowrcpt3 F1). Every writer of a notification owed
// to a shadow server — AddDiscard, AddPartialDiscard (a delay note is
// one), handBackTx — names that server in its transaction (noteOwed),
// and the commit wakes each one named once it is durable (signalOwed):
// the discard owed to a server whose push of a copy on receipt went
// unconfirmed, written when the copy is made on another server
// (nameCopyHolder, discardUnconfirmedInDelivery, ShadowRecopiedOrg),
// was answered only at that server's next poll, though its watch
// session waited on this server all along; a kill -9 of this server in
// between had both servers take the message over and deliver it. So no
// path signals by hand after its own commit (a delivery's results, a
// hold, a removal, a hand-back once did): each such wake followed a
// commit whose write had named the server already, and found nothing
// new. The commit is the one place; a wake that finds nothing to fetch
// (a discard not written after all: another record still needs the
// copy) costs a look, and the session waits again (waitDiscards).

// noteOwed records, in t, that a notification owed to server was
// written: server, and the holder whose database server's name is an
// alias of (holdernames.go: its session fetches what is filed under
// that name too), are woken after the commit.
func (t *Tx) noteOwed(server string) {
	if server == "" || slices.Contains(t.owedTo, server) {
		return
	}
	t.owedTo = append(t.owedTo, server)
	if h := t.holderOfAliasTx(server); h != "" && !slices.Contains(t.owedTo, h) {
		t.owedTo = append(t.owedTo, h)
	}
}

// signalOwed wakes, after the commit that wrote them, the long polls of
// the servers owed notifications by it (Tx.owedTo).
func (s *Store) signalOwed(servers []string) {
	if len(servers) == 0 {
		return
	}
	if q := s.early.Load(); q != nil {
		for _, server := range servers {
			q.dsig.signal(server)
		}
	}
}
