package smtp

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/routing"
)

// acceptedHere records SessionAcceptedHere calls.
type acceptedHere struct {
	mu  sync.Mutex
	got []string
}

func (a *acceptedHere) SessionAcceptedHere(server, dbID string) {
	a.mu.Lock()
	a.got = append(a.got, server+" "+dbID)
	a.mu.Unlock()
}

func (a *acceptedHere) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

// SR-7, OPS-3 (rt28e F3): a session of hub2 presenting a transport
// database id of its own is let in here: the shadow view's refusal of
// hub2's contacts ends with it (shadow.Recorder.SessionAcceptedHere),
// under the topology's spelling of its name — the event that clears
// hub2's destination mark, one truth for "refused". Told whether or not
// this server refused a session of hub2 since (its heartbeat or relay
// may have been the one refused), never for a session it refuses.
func TestSessionLetInEndsRefusalOfItsContacts(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: newPartialShadow(), ShadowEnabled: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	ender := &acceptedHere{}
	s.SetRefusalEnder(ender)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	session := func(db, want string) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2 MARK DB="+db, want)
		d.cmd("QUIT", "221")
	}
	session("dbQ", "250") // no refusal here before
	if got := ender.calls(); len(got) != 1 || got[0] != "hub2 dbQ" {
		t.Fatalf("after a session presenting its own id: %q, want [hub2 dbQ]", got)
	}
	session("dbB", "550 5.7.1") // hub3's id: refused, nothing ended
	if got := ender.calls(); len(got) != 1 {
		t.Fatalf("after a refused session: %q, want no new call", got)
	}
	session("dbQ", "250")
	if got := ender.calls(); len(got) != 2 {
		t.Fatalf("after the session let in again: %q, want a second call", got)
	}
}
