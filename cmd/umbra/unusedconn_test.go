package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/topology"
)

// With a topology, a configured send connector that no topology connector
// names is reported as unused — except one that logs in to a transport
// server of the topology: every session to that server (pushes, relays,
// heartbeats) goes through it, and deleting it on the warning's word
// would cost every shadow copy. One to another port of that server's
// host is another service and is reported.
func TestUnusedSendConnectorsSparesServerLogins(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "127.0.0.1:2525"}
  - {name: hub-b, role: hub, site: a, address: "127.0.0.2:2525"}
`), 0o600)
	cfg := &config.Config{Topology: topo, SendConnectors: []config.SendConnector{
		{Name: "to-hub-b", SmartHosts: []string{"127.0.0.2:2525"}, Auth: config.SendAuth{Username: "hub-a"}},
		{Name: "other-service", SmartHosts: []string{"127.0.0.2:2626"}, Auth: config.SendAuth{Username: "partner"}},
		{Name: "no-login", SmartHosts: []string{"127.0.0.2:2525"}},
	}}
	got := strings.Join(unusedSendConnectors(cfg, topologyOf(cfg)), "\n")
	if strings.Contains(got, `"to-hub-b"`) {
		t.Errorf("the login connector to hub-b is reported unused:\n%s", got)
	}
	for _, name := range []string{`"other-service"`, `"no-login"`} {
		if !strings.Contains(got, name) {
			t.Errorf("%s is not reported unused:\n%s", name, got)
		}
	}
}

// A heartbeat bound no longer than auth_throttle.max_delay is warned of:
// a refused login answered that late is a failed heartbeat, and a live
// primary can be taken over. The defaults (5 min against 30 s) are not.
func TestHeartbeatUnderThrottleWarns(t *testing.T) {
	cfg := &config.Config{}
	cfg.Transport.ShadowRedundancyEnabled = true
	cfg.Transport.CommandTimeout = config.Duration(300e9)
	cfg.Transport.ShadowHeartbeatTimeout = config.Duration(300e9)
	cfg.AuthThrottle.MaxDelay = config.Duration(30e9)
	cfg.ReceiveConnectors = []config.ReceiveConnector{{Name: "x", Auth: config.Auth{Mechanisms: []string{"PLAIN"}}}}
	if w := heartbeatUnderThrottle(cfg, topologyOf(cfg)); len(w) != 0 {
		t.Errorf("defaults warned: %v", w)
	}
	cfg.Transport.ShadowHeartbeatTimeout = config.Duration(20e9)
	if w := heartbeatUnderThrottle(cfg, topologyOf(cfg)); len(w) != 1 || !strings.Contains(w[0], "auth_throttle.max_delay (30s)") {
		t.Errorf("a 20 s heartbeat against a 30 s max_delay: %v", w)
	}
}

// rt19 F8: a smart host that is one of this server's own addresses makes
// every message of its connector wait (451 4.4.6, loops back to myself);
// config check says so instead of "ok" alone. rt20 N4: a smart host given
// by a name that resolves to this server is found too (the lookup and
// rule of delivery, delivery.CheckSelf); a name that resolves elsewhere,
// or to nothing, is not warned of.
func TestSmartHostThatIsThisServerWarns(t *testing.T) {
	dns := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"self.test. 300 IN A 127.0.0.1",
		"twice.test. 300 IN A 127.0.0.1",
		"twice.test. 300 IN A 192.0.2.7",
		"relay.test. 300 IN A 192.0.2.1")
	r, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	cfg.ReceiveConnectors = []config.ReceiveConnector{{Name: "in", Bindings: []string{"127.0.0.1:2599", "0.0.0.0:25"}}}
	cfg.SendConnectors = []config.SendConnector{
		{Name: "loop", SmartHosts: []string{"127.0.0.1:2599"}},
		{Name: "wild", SmartHosts: []string{"127.0.0.7"}}, // port 25: the wildcard binding
		{Name: "out", SmartHosts: []string{"192.0.2.1:2599", "relay.test", "missing.test"}},
		{Name: "mixed", SmartHosts: []string{"127.0.0.1:2599", "192.0.2.1:2599"}},
		{Name: "byname", SmartHosts: []string{"self.test:2599"}},
		{Name: "twice", SmartHosts: []string{"twice.test"}},
	}
	w := smartHostsThatAreThisServer(context.Background(), cfg, r)
	want := [][]string{
		{"send connector loop: smart host 127.0.0.1:2599 is an address this server listens on", "never sent"},
		{"send connector wild: smart host 127.0.0.7 is an address", "never sent"},
		{"send connector mixed: smart host 127.0.0.1:2599", "is skipped"},
		{"send connector byname: smart host self.test:2599 resolves to self.test[127.0.0.1]:2599, an address this server listens on", "never sent"},
		{"send connector twice: smart host twice.test resolves to twice.test[127.0.0.1]:25", "is skipped"},
	}
	if len(w) != len(want) {
		t.Fatalf("warnings: %q", w)
	}
	for i, ws := range want {
		for _, s := range ws {
			if !strings.Contains(w[i], s) {
				t.Errorf("warning %d %q lacks %q", i, w[i], s)
			}
		}
	}
}

// rt17c F4: the heartbeat/throttle warning is given at the line of the
// value it is about (max_delay where written, else the heartbeat bound
// that is short), and only where a login can be throttled at all: a
// receive connector offers AUTH, or a send connector logs in to a
// transport server. With neither, no heartbeat meets the throttle.
func TestHeartbeatUnderThrottleLineAndScope(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "127.0.0.1:2525"}
  - {name: hub-b, role: hub, site: a, address: "127.0.0.2:2525"}
`), 0o600)
	base := "server: {name: hub-a}\n" + // 1
		"topology: " + topo + "\n" + // 2
		"transport:\n" + // 3
		"  shadow_heartbeat_timeout: 10s\n" + // 4
		"  command_timeout: 20s\n" // 5
	plain := "receive_connectors:\n  - {name: x, bindings: [\"127.0.0.1:0\"]}\n"
	withAuth := "receive_connectors:\n  - {name: x, bindings: [\"127.0.0.1:0\"], auth: {mechanisms: [PLAIN], allow_insecure: true, credentials_file: " + filepath.Join(dir, "creds") + "}}\n"
	login := "send_connectors:\n  - {name: to-b, address_spaces: [{domain: \"*\"}], tls: required, smart_hosts: [\"127.0.0.2:2525\"], auth: {username: hub-a, password_file: " + filepath.Join(dir, "pw") + "}}\n"
	throttle := "auth_throttle:\n  max_delay: 30s\n"
	for _, tc := range []struct {
		name, yaml string
		want       string // "" for no warning
	}{
		{"no AUTH anywhere", base + plain, ""},
		{"no AUTH, throttle written", base + plain + throttle, ""},
		{"AUTH offered", base + withAuth, "umbra.yaml:4: warning: a shadow heartbeat"},
		{"login to a server", base + plain + login, "umbra.yaml:4: warning: a shadow heartbeat"},
		{"AUTH offered, throttle written", base + withAuth + throttle, "umbra.yaml:9: warning: a shadow heartbeat"},
	} {
		cfg, err := config.Parse([]byte(tc.yaml), "umbra.yaml")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w := heartbeatUnderThrottle(cfg, topologyOf(cfg))
		switch {
		case tc.want == "" && len(w) != 0:
			t.Errorf("%s: warned though no login meets the throttle: %v", tc.name, w)
		case tc.want != "" && (len(w) != 1 || !strings.HasPrefix(w[0], tc.want)):
			t.Errorf("%s: got %q, want one warning starting %q", tc.name, w, tc.want)
		}
	}
}

// serve's warnings of a smart host that is this server describe the
// topology serve (or a reload) loaded and runs with, not the file as it
// is a moment later: the topology held is passed in, never read again.
// A topology connector's smart host is checked with the port delivery
// uses for it: the configured connector's of its name (delivery's
// InheritTopology), or 25.
func TestSelfSmartHostWarningsOfTheHeldTopology(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "topology.yaml")
	write := func(hosts string) {
		if err := os.WriteFile(file, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "127.0.0.1:2525"}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hub-a]
    smart_hosts: [`+hosts+`]
  - name: plain
    address_spaces: [{domain: "plain.test", cost: 1}]
    source_servers: [hub-a]
    smart_hosts: ["127.0.0.1"]
`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`"127.0.0.1"`)
	ct, err := config.LoadTopology(file)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := topology.Build(ct)
	if err != nil {
		t.Fatal(err)
	}
	write(`"192.0.2.1"`) // the file changes after serve loaded it
	cfg := &config.Config{Topology: file}
	cfg.Server.Name = "hub-a"
	cfg.ReceiveConnectors = []config.ReceiveConnector{{Name: "in", Bindings: []string{"127.0.0.1:25", "127.0.0.1:2600"}}}
	// "out" is refined by the configuration (port 2600, no smart hosts
	// of its own: the topology's); "plain" is the topology's alone.
	cfg.SendConnectors = []config.SendConnector{{Name: "out", Port: 2600}}
	w := selfSmartHostWarnings(cfg, ct, rt)
	got := strings.Join(w, "\n")
	for _, want := range []string{
		"topology send connector out: smart host 127.0.0.1 is an address this server listens on",
		"topology send connector plain: smart host 127.0.0.1 is an address this server listens on",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nwant one with %q", got, want)
		}
	}
	if len(w) != 2 {
		t.Errorf("%d warnings, want 2:\n%s", len(w), got)
	}
}
