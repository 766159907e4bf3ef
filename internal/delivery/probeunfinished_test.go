package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// takenDoneHolders is a HolderRecorder that records what a shadow
// server finished (TakenDoneRecorder) and finds busy of its messages
// in delivery.
type takenDoneHolders struct {
	holdersByDigest
	busy int
}

func (h *takenDoneHolders) ShadowFinishedElsewhere(string, []queue.TakenDone) ([]queue.FinishedElsewhere, int, error) {
	return nil, h.busy, nil
}

// A probe that met the holder but whose questions did not all finish —
// XQUERYTAKENDONE cut by the caller's bound (the start's 3 s), or a
// noted message in delivery here — is not a finished ask: Probe says so
// (ErrQuestionsUnfinished), and the start's ask leaves that holder to
// the first pass (shadow.Holders.AskFirst; rr21b F3).
func TestProbeUnfinishedQuestionsReported(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	for _, tc := range []struct {
		name string
		busy int
		cut  bool
	}{
		{name: "cut by the caller's bound", cut: true},
		{name: "a noted message in delivery", busy: 1},
		{name: "all told"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ehlo := "250-holder.test\r\n250 XSHADOW 15\r\n"
			addr := scriptedPeerLines(t, ehlo, func(line string) string {
				switch cmd := strings.ToUpper(line); {
				case strings.HasPrefix(cmd, "XSHADOW "):
					return "250 db-b MARK=3\r\n"
				case strings.HasPrefix(cmd, "XQUERYTAKENDONE"):
					if tc.cut {
						<-hang
						return ""
					}
					if tc.busy > 0 {
						return "250-2.0.0 1 finished here\r\n250 a-1 RCPT=x@remote.example DELIVERED\r\n"
					}
					return "250 2.0.0 0 finished here\r\n"
				case cmd == "QUIT":
					return "221 bye\r\n"
				}
				return "250 ok\r\n"
			})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r := NewReceiptShadow(d, "db-a").WithHolders(&takenDoneHolders{busy: tc.busy})
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			db, err := r.Probe(ctx, "hub-b")
			if db != "db-b" {
				t.Fatalf("probe read database id %q (err %v), want db-b", db, err)
			}
			if unfinished := tc.cut || tc.busy > 0; unfinished != errors.Is(err, ErrQuestionsUnfinished) {
				t.Fatalf("probe err %v; want ErrQuestionsUnfinished: %v", err, unfinished)
			}
		})
	}
}
