package smtp

import (
	"strings"
	"sync"
	"testing"
)

// causeNotingReceipt is a notingReceipt that is told the cause of a
// refusal when the session knows one (RefusalCauseNoter).
type causeNotingReceipt struct {
	notingReceipt
	cmu    sync.Mutex
	causes []string // "id: cause"
}

func (r *causeNotingReceipt) ShadowSessionRefusedBecause(id, cause string) {
	r.cmu.Lock()
	r.causes = append(r.causes, id+": "+cause)
	r.cmu.Unlock()
	r.ShadowSessionRefused(id)
}

func (r *causeNotingReceipt) told() []string {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	return append([]string(nil), r.causes...)
}

// verbs40 F2 (SR-17, OPS- shadow list): hub2's own session (its account)
// refused at XSHADOW for presenting a database id this server knows as
// hub3's marks hub2 refused as before — every session of a server run on
// a copy of another's data directory presents it, so a copy on receipt
// there could never be discarded — but shadow list blamed "its address,
// certificate, account or right, or the connector offers no shadow verbs:
// see the INFO \"shadow session refused\"", neither the cause nor the log
// line that tells it. The refusal is told with its cause: the id, whose
// it is here, and the WARN that logs it. A refusal of another cause is
// told as before, without one.
func TestSR17DatabaseOfAnotherRefusalToldWithItsCause(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, verbs40Connector(t))
	r := &causeNotingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "127.0.0.128")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("XSHADOW hub3", "550 5.7.1") // hub2 may not speak for hub3: not hub2's claim, nothing told
	d.cmd("QUIT", "221")
	got := r.told()
	if len(got) != 1 || !strings.HasPrefix(got[0], "hub2: ") || !strings.Contains(got[0], "dbB") || !strings.Contains(got[0], "hub3's") ||
		!strings.Contains(got[0], "the presented transport database id is another server's") {
		t.Fatalf("causes told %q, want one for hub2 naming dbB as hub3's and the WARN", got)
	}
	r.mu.Lock()
	refused := append([]string(nil), r.refused...)
	r.mu.Unlock()
	if len(refused) != 1 || refused[0] != "hub2" {
		t.Fatalf("refusals noted %q, want hub2's", refused)
	}
}
