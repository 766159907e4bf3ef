package smtp

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// refusalHealth is a PeerHealth that records the marks set too
// (PeerRefusalHealth).
type refusalHealth struct {
	healthRecord
	mu     sync.Mutex
	marked []string // why NUL key
}

func (h *refusalHealth) Unresponsive(_ time.Time, why string, keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.marked = append(h.marked, why+"\x00"+k)
	}
}

// SR-3, W-2 (shadow28 item 3): this server's own refusal of a peer's
// shadow session — it presents a database id kept here as another
// server's — marks the peer at once (queue destinations:
// server:refused:NAME), as a relay to it that meets the refusal would:
// before, nothing showed it until a relay was tried, and relays went to
// it first.
func TestOwnRefusalOfShadowSessionMarksThePeer(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	h := &refusalHealth{}
	s.SetPeerHealth(h)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.marked) != 1 {
		t.Fatalf("marks %q; want hub2 marked refused here", h.marked)
	}
	why, key, _ := strings.Cut(h.marked[0], "\x00")
	if key != RefusedPeerKeyPrefix+"hub2" || !strings.Contains(why, "contact refused here") || !strings.Contains(why, "dbB") {
		t.Fatalf("marked %q for %q; want %shub2, its contacts refused here naming the id", key, why, RefusedPeerKeyPrefix)
	}
}
