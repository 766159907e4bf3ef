package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// busyPagedConnector is transportConnector bound to the review's own address.
func busyPagedConnector(t *testing.T, port int) []config.ReceiveConnector {
	return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.212:%d"]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, port, credsFile(t)))
}

// rr35 shadowdup: a holder with more copies in delivery than one
// XQUERYTAKENDONE batch holds (delivery askTakenDone asks 500 a round,
// up to 20 rounds in one session). BUSY lines are not forgotten once
// told, so every round of the session lists the same first batch: the
// primary never hears of the rest, keeps none of their originals back,
// and delivers each of them while the holder's attempt of its copy
// runs — the duplicate version 21 is there to prevent.
func TestSRBusyBeyondOneBatchToldInOneSession(t *testing.T) {
	const db = "0123456789abcdef0123456789abcdef"
	const batch, rounds, inDelivery = 500, 20, 600
	var ids []string
	for i := range inDelivery {
		ids = append(ids, fmt.Sprintf("c-%d", i))
	}
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	sh := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{db: ids}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, busyPagedConnector(t, 45001))
	c := clientFor(t, s)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	// As askTakenDone reads them: rounds until one is not full.
	told := map[string]bool{}
	complete := false
	for range rounds {
		all, err := c.QueryTakenDone(batch, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range all {
			if n.Kind == queue.TakenBusy {
				told[n.ID] = true
			}
		}
		if len(all) < batch {
			complete = true
			break
		}
	}
	if len(told) != inDelivery || !complete {
		t.Fatalf("the primary heard of %d of the %d copies in delivery on the holder (answer complete: %v): the originals of the rest are delivered a second time",
			len(told), inDelivery, complete)
	}
}
