package delivery

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// TLS-1, RFC 8689 §4.2.1: a REQUIRETLS message goes to the next hop only
// over TLS whose certificate verifies — inside the organisation too.
// A relay to another hub went with opportunistic TLS: in clear to a hub
// without STARTTLS, and without the flag (REQUIRETLS is offered only
// over TLS), so that hub then sent it on to the internet with no TLS
// requirement at all. Now: no STARTTLS or a certificate that does not
// verify defers 451 4.7.5 REQUIRETLS (another hub is tried; at expiry
// 5.7.10), a verified hub gets it with REQUIRETLS; a message without the
// flag still goes in clear.
func TestRequireTLSRelayInsideOrganisation(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name      string
		tlsCfg    *tls.Config
		requireTL bool
		want      queue.Outcome
		reply     string
	}{
		{"no STARTTLS", nil, true, queue.Deferred, "451 4.7.5 REQUIRETLS: "},
		{"certificate for another name", &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "other.test")}}, true, queue.Deferred, "451 4.7.5 REQUIRETLS: "},
		{"verified", &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "hub-b")}}, true, queue.RelayedOK, "250"},
		{"no REQUIRETLS asked", nil, false, queue.RelayedOK, "250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSinkWith(t, "127.0.0.8:0", false, tc.tlsCfg, "hub-b", func(srv *gosmtp.Server) { srv.EnableREQUIRETLS = true })
			d := hubAToHubB(t, s.addr, &tls.Config{RootCAs: ca.pool})
			m := message("r@remote.example")
			m.RequireTLS, m.OrgID = tc.requireTL, orgid.New()
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
				t.Fatalf("%+v, want %v %q", res, tc.want, tc.reply)
			}
			got := s.received()
			if tc.want != queue.RelayedOK {
				if len(got) != 0 {
					t.Fatalf("the hub got %d messages", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].tls != tc.requireTL {
				t.Fatalf("received %+v", got)
			}
		})
	}
}

// hubAToHubB is the delivery of hub-a (site a) in a topology whose
// other hub, hub-b (site b, at addr), is the source of the only send
// connector: everything goes to hub-b, with the TLS configuration tlsCfg
// (its roots verify hub-b). It is closed at the test's end.
func hubAToHubB(t *testing.T, addr string, tlsCfg *tls.Config) *Deliverer {
	t.Helper()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// RFC 8689 §5: "TLS-Required: No" in the header section (the field name
// in any case, the value "No" in any case, folded or not) makes DANE and
// MTA-STS failures not stop the message; any other value, the field in
// the body, or a field that only starts so does not.
func TestTLSRequiredNoHeaderForms(t *testing.T) {
	for msg, want := range map[string]bool{
		"TLS-Required: No\r\n\r\nx\r\n":                     true,
		"tls-required:no\r\n\r\nx\r\n":                      true,
		"Subject: a\r\nTLS-Required:  NO \r\n\r\nx\r\n":     true,
		"TLS-Required:\r\n No\r\n\r\nx\r\n":                 true, // folded (RFC 5322 §2.2.3)
		"TLS-Required:\r\n\tno\r\nSubject: a\r\n\r\nx\r\n":  true,
		"TLS-Required: Yes\r\n\r\nx\r\n":                    false,
		"TLS-Required: No thanks\r\n\r\nx\r\n":              false,
		"TLS-Required:\r\n No\r\n thanks\r\n\r\nx\r\n":      false,
		"TLS-Required-Not: No\r\n\r\nx\r\n":                 false,
		"Subject: a\r\n\r\nTLS-Required: No\r\n":            false,
		"X-TLS-Required: No\r\nSubject: a\r\n\r\nbody\r\n":  false,
		"Subject: a\r\n X-Folded: TLS-Required: No\r\n\r\n": false,
	} {
		if got := tlsRequiredNo([]byte(msg)); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
}

// RFC 8689: a REQUIRETLS message does not cross the network in clear,
// its shadow copy on receipt (SR-17) included: over a session to the
// shadow server without TLS the copy is not pushed (the receive side
// moves it to the next candidate, or takes the message without one),
// and the server is not marked as failing for it. Another message's
// copy goes over the same session.
func TestRequireTLSCopyOnReceiptNotInClear(t *testing.T) {
	hub := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: hub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 3, ShadowRetriesLocal: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	m := message("r@remote.example")
	m.RequireTLS, m.OrgID = true, orgid.New()
	if err := link.Push(context.Background(), m, queue.MemBody(body)); err == nil || !strings.Contains(err.Error(), "REQUIRETLS") {
		t.Fatalf("a REQUIRETLS copy over a session without TLS: %v", err)
	}
	if n := hub.Mails.Load(); n != 0 {
		t.Fatalf("the shadow server read %d MAIL commands", n)
	}
	if d.health.Last(time.Now(), copiesKey("hub-c")) || d.health.Last(time.Now(), "hub-c", hub.Addr()) {
		t.Fatal("the shadow server was marked as failing")
	}
	plain := message("r@remote.example")
	plain.OrgID = orgid.New()
	if err := link.Push(context.Background(), plain, queue.MemBody(body)); err != nil {
		t.Fatalf("a copy of a message without REQUIRETLS: %v", err)
	}
	link.Done(true)
	if n := hub.Copies.Load(); n != 1 {
		t.Fatalf("%d copies pushed, want 1", n)
	}
}
