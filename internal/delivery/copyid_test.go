package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// The shadow id of a relay (W-3) names the transaction for a version-8
// primary — two deliveries of one message, two ids, so that a discard
// settles only its own record's copy (queue/copyid.go) — and the message
// and primary for an older one, which merges a retried copy into its
// original whatever the id.
func TestShadowIDPerTransactionOnlyForVersion8(t *testing.T) {
	for _, tc := range []struct {
		keyword string
		perTx   bool
	}{{"XSHADOW 8", true}, {"XSHADOW 7", false}, {"XSHADOW", false}} {
		var mu sync.Mutex
		var ids []string
		addr := scriptedPrimaryAs(t, tc.keyword, func(cmd string) string {
			switch {
			case strings.HasPrefix(cmd, "XSHADOW"):
				return "250 primary-db\r\n"
			case strings.HasPrefix(cmd, "MAIL"):
				_, id, ok := strings.Cut(cmd, " XSHADOW=")
				if ok {
					id, _, _ = strings.Cut(id, " ")
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			case strings.HasPrefix(cmd, "XQUERYDISCARD"):
				return "250 2.0.0 0 discard notifications\r\n"
			}
			return "250 2.0.0 ok\r\n"
		})
		d := shadowDeliverer(t, addr, &shadowRecorder{})
		m := message("r@example.net")
		for i := 0; i < 2; i++ {
			if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.ShadowedOK {
				t.Fatalf("%s: delivery %d: %+v", tc.keyword, i, res)
			}
		}
		mu.Lock()
		if len(ids) != 2 || (ids[0] != ids[1]) != tc.perTx ||
			!strings.HasPrefix(ids[0], strings.ToUpper(m.ID.String()+"-")) || len(ids[0]) > 64 {
			t.Errorf("%s: shadow ids %v (one per transaction: %v)", tc.keyword, ids, tc.perTx)
		}
		mu.Unlock()
	}
}
