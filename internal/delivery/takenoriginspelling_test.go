package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// rr34 shadowrt33 review: primaryfold.go keeps a primary's records, and
// so Message.TakenUnder, under the folded name; delivery looks the copy's
// origin up there under the topology's spelling (routing ServerFrom).
// A primary spelt "Hub-A" in the topology, back with a new database
// (SR-7), holds none of the copies taken over from it: it is a route like
// any other (rt27a F3). Looked up as "Hub-A" in a map keyed "hub-a", the
// copy keeps avoiding it (waits for the dead other hub until expiry).
type rr34PeerDB struct{ q *queue.Manager }

func (rr34PeerDB) Contact(string, string, uint64, []string) error   { return nil }
func (rr34PeerDB) Presented(string, string, uint64, []string) error { return nil }

// PrimaryDatabase as shadow.Recorder.PrimaryDatabase reads it: the
// stored peer, its name compared folded.
func (p rr34PeerDB) PrimaryDatabase(primary string) string {
	peers, _ := p.q.ShadowPeers()
	for _, x := range peers {
		if queue.PrimaryKey(x.Primary) == queue.PrimaryKey(primary) {
			return x.DatabaseID
		}
	}
	return ""
}

func TestSRTakenOverCopyOriginUnderTopologySpelling(t *testing.T) {
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	claimed := make(chan *queue.Message, 4)
	q := queue.NewManager(s, queue.DelivererFunc(func(_ context.Context, m *queue.Message, _ []byte, rcpts []int) []queue.Result {
		select {
		case claimed <- m:
		default:
		}
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.Deferred, Reply: "451 4.4.1 test"})
		}
		return out
	}), queue.ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)

	// Hub-A pushed a copy on receipt (it states its name as the topology
	// spells it), from its address, under database db-old.
	cp := &queue.Message{From: "s@example.org", OrgID: orgid.New(), ClientIP: "127.0.0.214",
		Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	if stored, err := q.SubmitShadowCopy(ctx, cp, []byte("Subject: x\r\n\r\nx\r\n"), "Hub-A", "127.0.0.214:15201", "db-old"); err != nil || !stored {
		t.Fatalf("copy: %v %v", stored, err)
	}
	// Hub-A back with a new database: SR-7 takes the copy over under db-old.
	if _, err := q.ShadowContact("Hub-A", "db-new", nil); err != nil {
		t.Fatal(err)
	}
	var m *queue.Message
	select {
	case m = <-claimed:
	case <-time.After(10 * time.Second):
		t.Fatal("the taken-over copy was not attempted")
	}
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "Hub-A", Role: routing.RoleHub, Site: "a", Address: "127.0.0.214:15201"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "192.0.2.2:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	origin := messageOrigin(topo, m)
	if origin != "Hub-A" {
		t.Fatalf("origin %q, want Hub-A", origin)
	}
	st := &state{cfg: Config{Topology: topo, LocalServer: "hub-b", Shadows: rr34PeerDB{q}}}
	if !originLostIt(st, m, origin) {
		t.Errorf("copy taken over from Hub-A under db-old (TakenUnder %v), Hub-A back with %q: still avoided as the server holding the original",
			m.TakenUnder, rr34PeerDB{q}.PrimaryDatabase(origin))
	}
}
