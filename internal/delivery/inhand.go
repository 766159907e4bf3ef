package delivery

import "umbra/internal/smtp"

// inHand is the session a group's attempt holds (deliverRemote,
// deliverOrg): taken from the pool or opened, and not yet given back to
// the pool (finishConn, putBack) nor closed. A panic anywhere in the
// attempt — the checks of a pooled session (pooledMeets), the content
// and REQUIRETLS checks, the shadow session's opening (openShadow), the
// self-relay check, the relay's storage note between the transaction
// and finishConn — leaves the session out of step wherever it stopped:
// closeAtPanic closes it and lets the panic go on to the group's
// recover (Deliver), which defers the recipients (panics.go). Before,
// only a panic inside the transaction closed it (transaction), and a
// session open at any other point was neither pooled nor closed: it
// stayed open at the next hop until that hop's timeout.
type inHand struct{ c *smtp.Client }

// take records c as held.
func (h *inHand) take(c *smtp.Client) { h.c = c }

// drop records that the held session was given back to the pool or
// closed: a later panic must not close a session another attempt may
// have taken from the pool meanwhile.
func (h *inHand) drop() { h.c = nil }

// closeAtPanic, deferred, closes the held session at a panic and
// panics on.
func (h *inHand) closeAtPanic() {
	if r := recover(); r != nil {
		if h.c != nil {
			h.c.Close()
		}
		panic(r)
	}
}
