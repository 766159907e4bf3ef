package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// receiptWorld is hub-a copying on receipt to the hubs of its site,
// trusting ca.
func receiptWorld(t *testing.T, ca *testCA, hubs ...*testsupport.Hub) *ReceiptShadow {
	t.Helper()
	servers := []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"}}
	for i, h := range hubs {
		servers = append(servers, routing.Server{Name: []string{"hub-c", "hub-d"}[i], Role: routing.RoleHub, Site: "a", Address: h.Addr()})
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "a"}}, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 3, ShadowRetriesLocal: 3,
		CommandTimeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: ca.pool}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	return r
}

// TLS-1, RFC 8689: a REQUIRETLS message travels only over TLS whose
// certificate was verified, its shadow copy on receipt (SR-17) too.
// Copies share pooled sessions whose TLS is opportunistic (the
// certificate not checked): a REQUIRETLS copy goes over a session of its
// own to the same server, verified for the server's name; a server
// whose certificate does not verify gets no copy of it (nor is it marked
// failing: it answers), while other copies still go over the shared
// session.
func TestRequireTLSCopyOnReceiptOnlyOverVerifiedTLS(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name   string
		cert   string
		pushed bool
	}{
		{"certificate for the server", "hub-c", true},
		{"certificate for another name", "other.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{DataReply: "250 2.0.0 kept",
				TLS: &tls.Config{Certificates: []tls.Certificate{ca.issue(t, tc.cert)}}})
			r := receiptWorld(t, ca, hub)
			link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
			if err != nil {
				t.Fatal(err)
			}
			m := message("r@remote.example")
			m.RequireTLS, m.OrgID = true, orgid.New()
			err = link.Push(context.Background(), m, queue.MemBody(body))
			if tc.pushed && err != nil {
				t.Fatalf("a REQUIRETLS copy to a server whose certificate verifies: %v", err)
			}
			if !tc.pushed && (err == nil || !strings.Contains(err.Error(), "REQUIRETLS")) {
				t.Fatalf("a REQUIRETLS copy over TLS whose certificate does not verify: %v", err)
			}
			want := int32(0)
			if tc.pushed {
				want = 1
			}
			if n := hub.Copies.Load(); n != want {
				t.Fatalf("%d copies of the REQUIRETLS message kept, want %d", n, want)
			}
			if r.d.health.Last(time.Now(), copiesKey("hub-c")) || r.d.health.Last(time.Now(), "hub-c", hub.Addr()) {
				t.Fatal("the shadow server was marked as failing")
			}
			plain := message("r@remote.example")
			plain.OrgID = orgid.New()
			if err := link.Push(context.Background(), plain, queue.MemBody(body)); err != nil {
				t.Fatalf("a copy of a message without REQUIRETLS: %v", err)
			}
			link.Done(true)
			if n := hub.Copies.Load(); n != want+1 || hub.TLSCopies.Load() != want+1 {
				t.Fatalf("%d copies (%d over TLS), want %d", n, hub.TLSCopies.Load(), want+1)
			}
		})
	}
}

// OpenVerified (a REQUIRETLS message's copy, before the commit) takes
// only a candidate whose certificate verifies for its name: one that
// does not is passed over, unmarked; none left is ErrNoShadowServer,
// for the receive connector's shadow-failure rule.
func TestOpenVerifiedPassesOverUnverifiedCandidates(t *testing.T) {
	ca := newTestCA(t)
	bad := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{DataReply: "250 2.0.0 kept",
		TLS: &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "other.test")}}})
	good := testsupport.StartHub(t, "127.0.0.4:0", testsupport.HubScript{DataReply: "250 2.0.0 kept",
		TLS: &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "hub-d")}}})
	r := receiptWorld(t, ca, bad, good)
	m := message("r@remote.example")
	m.RequireTLS, m.OrgID = true, orgid.New()
	for i := 0; i < 4; i++ { // candidates rotate: each is first in some turn
		link, err := r.OpenVerified(context.Background(), config.ShadowOnReceiptLocalOnly)
		if err != nil {
			t.Fatal(err)
		}
		if link.Server() != "hub-d" {
			t.Fatalf("a REQUIRETLS copy's link to %s, whose certificate does not verify", link.Server())
		}
		if err := link.Push(context.Background(), m, queue.MemBody(body)); err != nil {
			t.Fatal(err)
		}
		link.Done(true)
	}
	if bad.Copies.Load() != 0 || good.Copies.Load() != 4 {
		t.Fatalf("copies: %d to the unverified server, %d to the verified one", bad.Copies.Load(), good.Copies.Load())
	}
	if r.d.health.Unhealthy("hub-c", bad.Addr()) {
		t.Fatal("the server whose certificate does not verify was marked failing")
	}

	only := receiptWorld(t, ca, bad)
	if _, err := only.OpenVerified(context.Background(), config.ShadowOnReceiptLocalOnly); !errors.Is(err, ErrNoShadowServer) {
		t.Fatalf("no candidate with a verified certificate: %v, want ErrNoShadowServer", err)
	}
}
