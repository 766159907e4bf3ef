package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rt19f F4: the made-again pass pushed a copy to a holder that took the
// session and hung; past the push's bound it gave up on the message
// until the next pass, whose probe of the hung holder holds the pass up
// for its bound before the copy is made elsewhere: two bounds, and a
// pass between. A push not answered in time is a failed try, as on
// receipt: the copy moves on to the next candidate in the same pass,
// and the holder, unconfirmed, may hold it (it gets the discard).
func TestRecopyMovesOnFromHungHolder(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	// The copy goes in one trip, its data in the envelope's write: the
	// hung holder may have read it (a copy sent in pieces, hung at MAIL,
	// never reached it: rcpt43 item 2).
	b := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{HangAtMail: true, EHLO: []string{"XSHADOW 5", "8BITMIME", "PIPELINING", "CHUNKING"}})
	cAddr, cCopies := copyPeer(t, "127.0.0.3:0", "250 2.0.0 kept")
	r, q, m := recopyWaiting(t, "1", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr})
	// The rotation puts hub-b first (a turn of 0 or 2 within site b).
	for i := uint64(0); ; i++ {
		r.next.Store(i)
		if plan := receiptTries(r.marked(time.Now()), []*routing.Server{{Name: "hub-b", Site: "b"}, {Name: "hub-c", Site: "b"}}, i+1, 2); plan[0].Name == "hub-b" {
			r.next.Store(i)
			break
		}
	}
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "hub-c" {
		t.Fatalf("made again on %q: %v; want hub-c in the same pass after hub-b did not answer", srv, err)
	}
	if n := b.Count(); n != 1 || cCopies.Load() != 1 {
		t.Errorf("hub-b had %d sessions, hub-c %d copies; want 1 and 1", n, cCopies.Load())
	}
	if lines, _ := q.DiscardsPartial("hub-b", 10); len(lines) != 1 || lines[0] != m.OrgID {
		t.Errorf("owed to hub-b: %q; want the copy's discard (it may store the push it hung on)", lines)
	}
}
