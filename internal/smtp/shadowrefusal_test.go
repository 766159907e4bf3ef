package smtp

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt17c F6: a shadow verb is refused for what is wrong. On a connector
// that does not offer the shadow verbs they are not implemented there
// (502 5.5.1); where they are offered, a client without the right is
// refused the right (550 5.7.1, as an XSHADOW of such a client is);
// "XSHADOW first" (503 5.5.1) is only for a client that may use them
// and has not opened its shadow session yet (W-2).
func TestShadowVerbRefusalsNameTheCause(t *testing.T) {
	verbs := []string{"XQUERYDISCARD 5", "XQDISCARD 5", "XQUERYHELD a-1", "XQUERYDROPPED 5", "XDISCARD a-1"}
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}

	plain := startShadowServer(t, &markQueue{mark: 1}, sh, true, connectors(t, `
  - name: client
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`))
	d := dial(t, plain, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c.test", "250"); offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("XSHADOW advertised on a connector without accept-xshadow:\n%s", ehlo)
	}
	d.cmd("XSHADOW x", "502 5.5.1")
	for _, v := range verbs {
		d.cmd(v, "502 5.5.1")
	}
	d.cmd("QUIT", "221")

	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("XSHADOW hub2", "550 5.7.1") // not logged in: not a transport server
	for _, v := range verbs {
		d.cmd(v, "550 5.7.1")
	}
	d.cmd(authHub2, "235")
	for _, v := range verbs {
		d.cmd(v, "503 5.5.1 XSHADOW first")
	}
	d.cmd("QUIT", "221")
}

// keptShadow applies no pushed discard: the ids are of copies held for
// another primary (or none held at all).
type keptShadow struct{ *pushShadow }

func (k keptShadow) ShadowPushedMarked(string, string, uint64, []string) (queue.ContactResult, error) {
	return queue.ContactResult{}, nil
}

// rt17c F6: XDISCARD for an id of no copy this server holds for the
// session's primary (a copy held for another primary, or one already
// gone) is answered 250 — there is nothing to send again — but the reply
// does not claim a discard it did not apply.
func TestPushedDiscardOfNoCopyNotClaimed(t *testing.T) {
	sh := keptShadow{&pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	if got := d.cmd("XDISCARD a-1", "250 2.0.0"); strings.Contains(got, "applied") {
		t.Fatalf("XDISCARD of a copy not held for this primary: %q claims an effect", got)
	}
}
