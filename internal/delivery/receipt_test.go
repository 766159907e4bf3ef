package delivery

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-17: the shadow server of a copy on receipt is where the copy is
// kept, not where the message came from: a route must not avoid it
// (found by make chaos-receipt: with the other hub of the site dead for
// good, a message whose copy was on the live one was sent only to the
// dead one, for ever).
func TestOriginIsNotTheReceiptShadowServer(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.2:25"},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "127.0.0.3:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	org := orgid.New()
	relayed := &queue.Message{OrgID: org, ShadowServer: "hub-b", ShadowID: "0001-abc", ClientIP: "127.0.0.9"}
	if got := messageOrigin(topo, relayed); got != "hub-b" {
		t.Errorf("relayed in a shadow session: origin %q, want hub-b", got)
	}
	copied := &queue.Message{OrgID: org, ShadowServer: "hub-b", ShadowID: org, ClientIP: "127.0.0.9"}
	if got := messageOrigin(topo, copied); got != "" {
		t.Errorf("copy on receipt at hub-b: origin %q, want none (the client is outside)", got)
	}
}

// Shadow on receipt honours destination health: a peer marked dead or
// unanswering (SR-16) is tried only after every unmarked one, so a
// waiting sender does not spend a try on it while another can take the
// copy; with every peer marked, they are still tried (a copy beats none).
func TestReceiptTriesSkipUnhealthyPeers(t *testing.T) {
	a := &routing.Server{Name: "hub-a", Address: "127.0.0.1:25"}
	b := &routing.Server{Name: "hub-b", Address: "127.0.0.2:25"}
	c := &routing.Server{Name: "hub-c", Address: "127.0.0.3:25"}
	list := []*routing.Server{a, b, c}
	h := queue.NewHealth()
	names := func(ss []*routing.Server) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(receiptTries(unhealthy(h), list, 1, 2)); got != "hub-b,hub-c" {
		t.Fatalf("all healthy, turn 1: %s", got)
	}
	h.Unresponsive(time.Now(), "failed heartbeat", "hub-b", "127.0.0.2:25")
	for turn := uint64(0); turn < 3; turn++ {
		got := receiptTries(unhealthy(h), list, turn, 2)
		if names(got) == "" || got[0] == b || got[1] == b {
			t.Fatalf("turn %d: the dead peer is among the first tries: %s", turn, names(got))
		}
	}
	if got := names(receiptTries(unhealthy(h), list, 1, 3)); got != "hub-c,hub-a,hub-b" {
		t.Fatalf("budget 3: %s", got)
	}
	if got := names(receiptTries(unhealthy(h), list, 1, 5)); got != "hub-c,hub-a,hub-b" {
		t.Fatalf("budget 5 over 3 servers: %s, want each once", got)
	}
	h.Unresponsive(time.Now(), "connect refused", "127.0.0.1:25") // by address, as a relay marks it
	h.Unresponsive(time.Now(), "connect refused", "hub-c")
	if got := names(receiptTries(unhealthy(h), list, 0, 2)); got != "hub-a,hub-b" {
		t.Fatalf("every peer marked: %s", got)
	}
	h.Responsive("hub-b", "127.0.0.2:25")
	if got := receiptTries(unhealthy(h), list, 0, 1); got[0] != b {
		t.Fatalf("after hub-b answered: %s", names(got))
	}
}

// A push to a peer that a logging-in send connector reaches goes through
// that connector (its login), as a heartbeat through it does; without
// one, the organisation's own way (no connector).
func TestPushViaLoggingInConnector(t *testing.T) {
	st := &state{conns: map[string]*sendConnector{
		"internet": {cfg: config.SendConnector{Name: "internet", SmartHosts: []string{"relay.example.net:25"}, Auth: config.SendAuth{Username: "u"}}},
		"to-hub-b": {cfg: config.SendConnector{Name: "to-hub-b", SmartHosts: []string{"127.0.0.2:2525"}, Auth: config.SendAuth{Username: "edge1"}}},
		"plain":    {cfg: config.SendConnector{Name: "plain", SmartHosts: []string{"hub-c.example.test"}}},
		"by-name":  {cfg: config.SendConnector{Name: "by-name", SmartHosts: []string{"HUB-D"}, Auth: config.SendAuth{Username: "edge1"}}},
	}}
	for _, c := range []struct {
		s    routing.Server
		want string
	}{
		{routing.Server{Name: "hub-b", Address: "127.0.0.2:2525"}, "to-hub-b"},
		{routing.Server{Name: "hub-b", Address: "127.0.0.2:25"}, ""},              // the same host, another port: another service
		{routing.Server{Name: "hub-c.example.test", Address: "127.0.0.3:25"}, ""}, // no login: the organisation's way
		{routing.Server{Name: "hub-d", Address: "127.0.0.4:25"}, "by-name"},
		{routing.Server{Name: "hub-e", Address: "127.0.0.5:25"}, ""},
	} {
		if got := loginVia(st, c.s.Name, c.s.Address); got != c.want {
			t.Errorf("%s at %s: via %q, want %q", c.s.Name, c.s.Address, got, c.want)
		}
	}
}

// A copy whose first choice is down moves on: prefer-remote with one
// server of another site (dead) and a retry budget of 3 tries it once,
// then the servers of this site — never the dead one again.
func TestReceiptTriesMoveToAnotherPeer(t *testing.T) {
	remote := &routing.Server{Name: "hub-r", Address: "127.0.0.9:25"}
	l1 := &routing.Server{Name: "hub-l1", Address: "127.0.0.10:25"}
	l2 := &routing.Server{Name: "hub-l2", Address: "127.0.0.11:25"}
	h := queue.NewHealth()
	plan := append(receiptTries(unhealthy(h), []*routing.Server{remote}, 0, 3), receiptTries(unhealthy(h), []*routing.Server{l1, l2}, 0, 3)...)
	var got []string
	for _, s := range plan {
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != "hub-r,hub-l1,hub-l2" {
		t.Fatalf("plan %v: want the remote server once, then the local ones", got)
	}
	h.Unresponsive(time.Now(), "shadow copy on receipt: connection refused", "hub-l1", l1.Address)
	if got := receiptTries(unhealthy(h), []*routing.Server{l1, l2}, 0, 1); got[0] != l2 {
		t.Fatalf("a local peer that failed recently is tried first: %s", got[0].Name)
	}
}

// unhealthy is the predicate of a health record without probes.
func unhealthy(h *queue.Health) func(*routing.Server) bool {
	return func(s *routing.Server) bool { return h.Unhealthy(s.Name, s.Address) }
}

// rt17 F10: a peer marked once (a hung push) was never tried again while
// another candidate took the copies, so prefer-remote kept every copy in
// this site long after the other site's hub was back. A marked peer is
// now tried in its place once per receiptProbe; the probe's failure
// renews the mark, its success clears it.
func TestReceiptProbesMarkedPeer(t *testing.T) {
	remote := &routing.Server{Name: "hub-r", Address: "127.0.0.9:25"}
	local := &routing.Server{Name: "hub-l", Address: "127.0.0.10:25"}
	h := queue.NewHealth()
	r := &ReceiptShadow{d: &Deliverer{health: h}}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h.Unresponsive(t0, "shadow copy on receipt: timeout", remote.Name, remote.Address)
	first := func(now time.Time) string {
		marked := r.marked(now)
		plan := healthyFirst(marked, append(receiptTries(marked, []*routing.Server{remote}, 0, 1),
			receiptTries(marked, []*routing.Server{local}, 0, 1)...))
		return plan[0].Name
	}
	if got := first(t0.Add(receiptProbe / 2)); got != "hub-l" {
		t.Fatalf("within the probe interval: %s tried first", got)
	}
	if got := first(t0.Add(receiptProbe)); got != "hub-r" {
		t.Fatalf("the probe is due: %s tried first, want the marked remote peer", got)
	}
	if got := first(t0.Add(receiptProbe + time.Second)); got != "hub-l" {
		t.Fatalf("one probe per interval: %s tried first", got)
	}
	h.Unresponsive(t0.Add(receiptProbe+2*time.Second), "shadow copy on receipt: timeout", remote.Name, remote.Address)
	if got := first(t0.Add(2 * receiptProbe)); got != "hub-l" {
		t.Fatalf("a failed probe renews the mark: %s tried first", got)
	}
	if got := first(t0.Add(3 * receiptProbe)); got != "hub-r" {
		t.Fatalf("the next probe: %s", got)
	}
	h.Responsive(remote.Name, remote.Address)
	if got := first(t0.Add(3*receiptProbe + time.Second)); got != "hub-r" {
		t.Fatalf("after it answered: %s tried first", got)
	}
}

// prefer-remote puts a copy on a hub of the nearest other site first
// (README, Shadow on receipt), rotating among that site's hubs; the
// farther sites' hubs come after them (rt36 F5: copies rotated over every
// remote hub, two thirds of them over the more costly link). A marked
// hub of the nearest site gives way to the next site's.
func TestReceiptTriesNearestSiteFirst(t *testing.T) {
	b := &routing.Server{Name: "hub-b", Site: "s2", Address: "127.0.0.2:25"}
	b2 := &routing.Server{Name: "hub-b2", Site: "s2", Address: "127.0.0.5:25"}
	c := &routing.Server{Name: "hub-c", Site: "s3", Address: "127.0.0.3:25"}
	d := &routing.Server{Name: "hub-d", Site: "s3", Address: "127.0.0.4:25"}
	h := queue.NewHealth()
	first := map[string]int{}
	for turn := uint64(0); turn < 6; turn++ {
		got := receiptTries(unhealthy(h), []*routing.Server{b, c, d}, turn, 3)
		if len(got) != 3 || got[0] != b {
			t.Fatalf("turn %d: %v, want hub-b (nearest site) first", turn, got)
		}
		got = receiptTries(unhealthy(h), []*routing.Server{b, b2, c, d}, turn, 4)
		if len(got) != 4 || got[0].Site != "s2" || got[1].Site != "s2" || got[2].Site != "s3" || got[3].Site != "s3" {
			t.Fatalf("turn %d: %v, want the nearest site's hubs first", turn, got)
		}
		first[got[0].Name]++
	}
	if first["hub-b"] == 0 || first["hub-b2"] == 0 {
		t.Fatalf("copies do not rotate within the nearest site: %v", first)
	}
	h.Unresponsive(time.Now(), "no answer", b.Name, b.Address)
	got := receiptTries(unhealthy(h), []*routing.Server{b, c, d}, 0, 3)
	if got[0].Site != "s3" || got[2] != b {
		t.Fatalf("nearest site's hub marked: %v, want the next site's first and hub-b last", got)
	}
}

// rt56 F6: a failure DSN made here carries the shadow server of the
// message it reports on (it owes that copy's discard); it did not come
// from there, so no route of it avoids that server.
func TestMessageOriginOfADSNMadeHere(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.2:25"},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "127.0.0.3:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dsn := &queue.Message{Connector: "dsn", Internal: true, ShadowServer: "hub-b", ShadowID: "0001-abc"}
	if got := messageOrigin(topo, dsn); got != "" {
		t.Errorf("a DSN made here that owes hub-b's discard: origin %q, want none", got)
	}
	relayedDSN := &queue.Message{Connector: "org", Internal: true, ShadowServer: "hub-b", ShadowID: "0001-abc", ClientIP: "127.0.0.2"}
	if got := messageOrigin(topo, relayedDSN); got != "hub-b" {
		t.Errorf("a DSN relayed by hub-b: origin %q, want hub-b", got)
	}
}
