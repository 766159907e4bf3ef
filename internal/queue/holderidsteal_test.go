package queue

import (
	"errors"
	"testing"
)

// SR-7, SR-17 (shadow26 review F5): the move of shadow26 item 4 asks only
// that the id's recorded name be no server of the topology now and that
// the presenting server state its own name — which every XSHADOW session
// here does (holderSeen passes the session's id as both). hub-b's id is
// recorded under hub-b; hub-b is out of this server's topology for a
// while (a reload mid-rollout, a maintenance edit); hub-c, a host
// running a copy of hub-b's data dir (rt24a F1's class), presents it:
// the id moves to hub-c for good. hub-b, back in the topology, is then
// refused as presenting hub-c's id: the copy took the real server's id.
func TestHolderIDNotStolenWhileOwnerOutOfTopology(t *testing.T) {
	s := openTest(t)
	q, _ := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2", "hub-c": "127.0.0.3"}, nil)
	if _, _, err := q.ShadowHolderSeenStated("hub-b", "hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}) // hub-b out for a while
	_, _, err := q.ShadowHolderSeenStated("hub-c", "hub-c", "db-b")
	var other *DatabaseOfAnotherError
	if !errors.As(err, &other) {
		t.Errorf("hub-c (another host, at another address) presenting hub-b's id while hub-b is out of the topology: %v; want refused as hub-b's", err)
	}
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2", "hub-c": "127.0.0.3"})
	if _, _, err := q.ShadowHolderSeenStated("hub-b", "hub-b", "db-b"); err != nil {
		t.Errorf("hub-b back in the topology presenting its own id: %v", err)
	}
}
