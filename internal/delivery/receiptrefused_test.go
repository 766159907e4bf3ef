package delivery

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// refusingPeer is a hub that refuses this server's shadow session for
// copies on receipt (XSHADOW answered reply, 550 5.7.1: the account has
// no right to the shadow verbs), advertising digest as its database's
// (none when "").
func refusingPeer(t *testing.T, addr, reply, digest string) string {
	ehlo := []string{"XSHADOW 6"}
	if digest != "" {
		ehlo = append(ehlo, "XSHADOWDB "+digest)
	}
	ehlo = append(ehlo, "8BITMIME")
	return testsupport.StartHub(t, addr, testsupport.HubScript{EHLO: ehlo, XShadow: reply}).Addr()
}

// rt18 F6: a shadow server that refuses the session for copies on
// receipt was logged only at DEBUG and not counted: the operator could
// not tell why copies went elsewhere (or nowhere). It is logged at WARN
// with the peer's reply, paced per peer (the shadow recorder decides),
// counted with session "receipt" and judged by the digest the peer
// advertised; destination health (queue destinations) names the refusal.
func TestReceiptRefusedSessionWarns(t *testing.T) {
	reply := "550 5.7.1 Not permitted to open a shadow session"
	bAddr := refusingPeer(t, "127.0.0.2:0", reply, queue.DatabaseDigest("peer-db"))
	cAddr := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{}).Addr()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: cAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &refusingRecorder{}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 3, ShadowRetriesLocal: 3, Shadows: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var logs logBuffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
	if err != nil || link.Server() != "hub-c" {
		t.Fatalf("copy: %v; want it on hub-c", err)
	}
	link.Done(false)
	rec.mu.Lock()
	refused, digests := append([]string(nil), rec.refused...), append([]string(nil), rec.digests...)
	rec.mu.Unlock()
	if len(refused) != 1 || refused[0] != "receipt "+reply || len(digests) != 1 || digests[0] != queue.DatabaseDigest("peer-db") {
		t.Fatalf("refusals recorded: %q with digests %q; want hub-b's, session receipt, with its digest", refused, digests)
	}
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="shadow server refused the session for copies on receipt"`) ||
		!strings.Contains(out, "shadow_server=hub-b") || !strings.Contains(out, `reply="`+reply+`"`) {
		t.Fatalf("no WARN naming hub-b and its reply:\n%s", out)
	}
	keys, marks := d.health.Marks()
	found := false
	for i, k := range keys {
		found = found || strings.Contains(k, "hub-b") && strings.Contains(marks[i].Why, "refused") && strings.Contains(marks[i].Why, reply)
	}
	if !found {
		t.Fatalf("destination health does not name hub-b's refusal: %q %+v", keys, marks)
	}
}

// A heartbeat refused by a server that presents a database digest came
// from a live transport server: destination health keeps it responsive.
// One refused without a digest is not the primary's refusal (the shadow
// manager counts it as failed, shadow doc.go: Judging a refusal), and
// destination health marks the address as for a failed heartbeat, so
// deliveries try it last (SR-16) instead of first.
func TestHeartbeatRefusedWithoutDigestMarksUnresponsive(t *testing.T) {
	reply := "550 5.7.1 Not permitted to open a shadow session"
	for _, c := range []struct {
		digest     string
		responsive bool
	}{{queue.DatabaseDigest("primary-db"), true}, {"", false}} {
		addr := refusingPeer(t, "127.0.0.1:0", reply, c.digest)
		d := shadowDeliverer(t, addr, &shadowRecorder{})
		err := d.Heartbeat(context.Background(), "hub-b", addr, func(string, uint64, []string, bool) error { return nil })
		var ref *refusedError
		if !errors.As(err, &ref) || ref.DatabaseDigest() != c.digest {
			t.Fatalf("digest %q: heartbeat error %v; want a refusal carrying the digest", c.digest, err)
		}
		if got := !d.health.Unhealthy("hub-b", addr); got != c.responsive {
			t.Errorf("digest %q: responsive %v, want %v", c.digest, got, c.responsive)
		}
	}
}
