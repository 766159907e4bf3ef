package delivery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// keptHolders is a KeptRecorder: hub-b's records name the copies ids,
// and each answer recorded is kept.
type keptHolders struct {
	holdersByDigest
	ids     []string
	mu      sync.Mutex
	answers [][2][]string // asked, missing
	apart   time.Duration
}

func (h *keptHolders) ShadowCopiesNamed(server string, after queue.ID, max int) ([]string, queue.ID, error) {
	if server != "hub-b" || after != 0 {
		return nil, 0, nil
	}
	return h.ids[:min(max, len(h.ids))], 0, nil
}

func (h *keptHolders) ShadowKeptAnswer(server string, asked, missing []string, apart time.Duration) ([]*queue.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answers = append(h.answers, [2][]string{asked, missing})
	h.apart = apart
	return nil, nil
}

// keptListener listens on 127.0.0.120, on a free port of 7000-7499.
func keptListener(t *testing.T) net.Listener {
	t.Helper()
	for p := 7000; p < 7500; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.120:%d", p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 7000-7499 on 127.0.0.120")
	return nil
}

// SR-6, SR-7 (shadow verbs 23): the holder probe asks a holder of 23
// which of the copies the records here name on it it keeps no record of
// (XQUERYKEPT, after what it finished of the copies it took over) and
// hands the answer to the queue with the probe's interval, at least the
// copier's bound; a holder of 22 is asked nothing.
func TestSR6ProbeAsksHolderWhichCopiesItKeeps(t *testing.T) {
	for _, version := range []int{23, 22} {
		t.Run(fmt.Sprint(version), func(t *testing.T) {
			var mu sync.Mutex
			var cmds []string
			ehlo := fmt.Sprintf("250-holder.test\r\n250 XSHADOW %d\r\n", version)
			addr := scriptedPeerOn(t, keptListener(t), ehlo, func(line string) string {
				mu.Lock()
				defer mu.Unlock()
				cmds = append(cmds, line)
				cmd := strings.ToUpper(line)
				switch {
				case strings.HasPrefix(cmd, "XSHADOW "):
					return "250 db-b MARK=3\r\n"
				case strings.HasPrefix(cmd, "XQUERYKEPT "):
					return "250-2.0.0 1 of 2 missing\r\n250 b-2\r\n"
				case strings.HasPrefix(cmd, "XQUERY"):
					return "250 2.0.0 0 finished here\r\n"
				case cmd == "QUIT":
					return "221 bye\r\n"
				}
				return "250 ok\r\n"
			})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.120:25"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
				ShadowHeartbeatTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			h := &keptHolders{ids: []string{"a-1", "b-2"}}
			r := NewReceiptShadow(d, "db-a").WithHolders(h)
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if db, err := r.Probe(ctx, "hub-b"); db != "db-b" || err != nil {
				t.Fatalf("probe: %q, %v", db, err)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			asked := slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "XQUERYKEPT") })
			if version < 23 {
				if asked || len(h.answers) != 0 {
					t.Fatalf("a holder of %d was asked: %q, %d answers recorded", version, cmds, len(h.answers))
				}
				return
			}
			if !slices.Contains(cmds, "XQUERYKEPT a-1 b-2") {
				t.Fatalf("commands %q: want XQUERYKEPT a-1 b-2", cmds)
			}
			if len(h.answers) != 1 || !slices.Equal(h.answers[0][0], []string{"a-1", "b-2"}) || !slices.Equal(h.answers[0][1], []string{"b-2"}) {
				t.Fatalf("answers recorded: %q", h.answers)
			}
			if h.apart < receiptTry {
				t.Fatalf("answers apart %v: less than the copier's bound %v", h.apart, receiptTry)
			}
		})
	}
}
