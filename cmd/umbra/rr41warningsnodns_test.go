package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// hostsResolver answers LookupHost from its map and nothing else; it
// counts the names it was asked.
type hostsResolver struct {
	hosts map[string][]string
	asked []string
}

func (r *hostsResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	r.asked = append(r.asked, name)
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *hostsResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.asked = append(r.asked, host)
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// OPS-3, SR-1 (rr41): the daemon builds its configuration warnings at its
// start and at every reload with noDNS, so that no lookup delays either
// while DNS is down (configwarnings.go). The check of the source address
// of this hub's relays made the system's route lookup by dialing a
// topology server's address — for one listed by host name, a lookup of
// that name by the system resolver, which neither noDNS nor any deadline
// bounds. A name is now resolved by the resolver given: noDNS says
// nothing of such a server; config check's resolver still finds it.
func TestConfigWarningsResolveNoNameWithNoDNS(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	cfgPath := filepath.Join(dir, "hub.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:38501"}
  - {name: hubB, role: hub, site: B, address: "localhost:38501"}
`), 0o600)
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`server:
  name: hubA
  role: hub
  data_dir: %s
  metrics_listen: ""
accepted_domains: [{domain: corp.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.1.1:38501"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: maildir}
topology: %s
`, filepath.Join(dir, "data"), topo)), 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rt, ct, err := serverTopologies(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const said = "warning: the source address of this server's connections to hubB"
	for _, w := range configWarnings(context.Background(), cfg, ct, rt, noDNS{}) {
		if strings.Contains(w, said) {
			t.Errorf("with noDNS, a topology server listed by host name (localhost, which the system resolver answers from its hosts file) was resolved by the system resolver for the warning: %s", w)
		}
	}
	r := &hostsResolver{hosts: map[string][]string{"localhost": {"127.0.2.1"}}}
	ws := configWarnings(context.Background(), cfg, ct, rt, r)
	if !slicesContain(ws, said+" (localhost:38501) is chosen by the system for it (no source_address is set): 127.0.0.1") {
		t.Errorf("config check's resolver: localhost resolves to 127.0.2.1 there, relays there leave from 127.0.0.1, which the topology does not give hubA; got:\n%s", strings.Join(ws, "\n"))
	}
}

func slicesContain(ws []string, part string) bool {
	for _, w := range ws {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}
