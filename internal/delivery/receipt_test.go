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
	if got := names(receiptTries(h, list, 1, 2)); got != "hub-b,hub-c" {
		t.Fatalf("all healthy, turn 1: %s", got)
	}
	h.Unresponsive(time.Now(), "failed heartbeat", "hub-b", "127.0.0.2:25")
	for turn := uint64(0); turn < 3; turn++ {
		got := receiptTries(h, list, turn, 2)
		if names(got) == "" || got[0] == b || got[1] == b {
			t.Fatalf("turn %d: the dead peer is among the first tries: %s", turn, names(got))
		}
	}
	if got := names(receiptTries(h, list, 1, 3)); got != "hub-c,hub-a,hub-b" {
		t.Fatalf("budget 3: %s", got)
	}
	if got := names(receiptTries(h, list, 1, 5)); got != "hub-c,hub-a,hub-b" {
		t.Fatalf("budget 5 over 3 servers: %s, want each once", got)
	}
	h.Unresponsive(time.Now(), "connect refused", "127.0.0.1:25") // by address, as a relay marks it
	h.Unresponsive(time.Now(), "connect refused", "hub-c")
	if got := names(receiptTries(h, list, 0, 2)); got != "hub-a,hub-b" {
		t.Fatalf("every peer marked: %s", got)
	}
	h.Responsive("hub-b", "127.0.0.2:25")
	if got := receiptTries(h, list, 0, 1); got[0] != b {
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
	plan := append(receiptTries(h, []*routing.Server{remote}, 0, 3), receiptTries(h, []*routing.Server{l1, l2}, 0, 3)...)
	var got []string
	for _, s := range plan {
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != "hub-r,hub-l1,hub-l2" {
		t.Fatalf("plan %v: want the remote server once, then the local ones", got)
	}
	h.Unresponsive(time.Now(), "shadow copy on receipt: connection refused", "hub-l1", l1.Address)
	if got := receiptTries(h, []*routing.Server{l1, l2}, 0, 1); got[0] != l2 {
		t.Fatalf("a local peer that failed recently is tried first: %s", got[0].Name)
	}
}
