package smtp

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// notingReceipt is a ReceiptShadow that records the sessions noted
// refused and let in (SessionNoter).
type notingReceipt struct {
	mu      sync.Mutex
	refused []string
	letIn   []string
}

func (r *notingReceipt) Open(context.Context, string) (ReceiptLink, error) { return nil, errNoLink }
func (r *notingReceipt) ShadowSessionRefused(id string) {
	r.mu.Lock()
	r.refused = append(r.refused, id)
	r.mu.Unlock()
}
func (r *notingReceipt) ShadowSessionLetIn(id string) {
	r.mu.Lock()
	r.letIn = append(r.letIn, id)
	r.mu.Unlock()
}

var errNoLink = errors.New("no link")

// SR-17: a holder whose shadow sessions this server refuses gets no copy
// on receipt — but only a refusal of a session whose claim is its own
// counts. Any client may state a server's name at XSHADOW on a
// connector that offers the verb: an anonymous one saying "XSHADOW hub2"
// is refused and must not stop the copies made on hub2; hub2 itself,
// authenticated and refused (it presents another server's database id),
// is noted.
func TestSR17StrangersRefusalNotNotedForTheServerItNames(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	r := &notingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO stranger.test", "250")
	d.cmd("XSHADOW hub2", "550 5.7.1")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	if len(r.refused) != 0 {
		r.mu.Unlock()
		t.Fatalf("an anonymous session stating hub2 noted hub2's sessions refused (%q): any client could stop its copies", r.refused)
	}
	r.mu.Unlock()
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) != 1 || r.refused[0] != "hub2" {
		t.Fatalf("hub2 authenticated and refused: noted %q, want [hub2]", r.refused)
	}
}
