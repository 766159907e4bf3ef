package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// loginPrimary is a primary on 127.0.0.180 (ports 14000-14999) that
// grants the shadow verbs to the server account edge1 only, over TLS;
// pw is a password file holding edge1's password.
func loginPrimary(t *testing.T) (addr, pw string) {
	t.Helper()
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds := filepath.Join(dir, "creds")
	os.WriteFile(creds, []byte("edge1:"+string(hash)+":server\n"), 0o600)
	certPEM, keyPEM, _ := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	listen := testsupport.AddrInRange(t, "127.0.0.180", 14000, 1000)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: [%q]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {servers: [submit, relay, accept-xshadow]}
`, listen, certFile, keyFile, creds)), "primary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub.test", Connectors: cfg.ReceiveConnectors,
		Queue: primaryQueue{}, Shadow: primaryQueue{}, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	pw = filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	return srv.Addrs()[0].String(), pw
}

// SR-6, SR-3 (rt45 redirect): a primary recorded "ADDR via NAME" where
// this server has no send connector NAME — a connector of the topology
// alone (a redirect's route), or one a reload removed or renamed since
// — is reached the way this server reaches it otherwise: through the
// connector that logs in to it (loginVia), else the organisation's own
// way. Every heartbeat and watch session failed here before any
// connection ("send connector out is gone"), and the copies of a live
// primary were taken over and delivered a second time.
func TestSR6SessionViaAConnectorThisServerLacksReachesThePrimary(t *testing.T) {
	addr, pw := loginPrimary(t)
	login := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSRequired, SendXShadow: true, Auth: config.SendAuth{Username: "edge1", PasswordFile: pw}}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, login)
	d.st.Load().cfg.ShadowServerID = "edge1"
	for _, via := range []string{"out", "to-hub-old"} {
		db, ids, err := heartbeatIDs(d, context.Background(), "hub.test", addr+" via "+via)
		if err != nil || db != "primary-db" || strings.Join(ids, ",") != "d1" {
			t.Fatalf("heartbeat via %s, a connector this server lacks: %q %v %v; want it through to-hub, which logs in", via, db, ids, err)
		}
		var watched []string
		err = d.Watch(context.Background(), "hub.test", addr+" via "+via, func(_ string, _ uint64, ids []string, _ bool) error {
			watched = append(watched, ids...)
			return nil
		}, func() bool { return false })
		if err != nil || strings.Join(watched, ",") != "d1" {
			t.Fatalf("watch session via %s: %v %v; want it through to-hub", via, watched, err)
		}
		if err := d.Reconcile(context.Background(), "hub.test", addr+" via "+via, []string{"x"}, func(string, uint64, []string, bool) error { return nil }); err != nil {
			t.Fatalf("reconcile via %s: %v; want it through to-hub", via, err)
		}
	}

	// No connector logs in to it: the organisation's own way, which
	// reaches the primary — here it answers, refusing a session that
	// did not log in (a refusal: the primary is alive, no failed
	// heartbeat), where the session failed here before.
	anon := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	anon.st.Load().cfg.ShadowServerID = "edge1"
	_, _, err := heartbeatIDs(anon, context.Background(), "hub.test", addr+" via out")
	var ref interface{ Refusal() string }
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1 ") {
		t.Fatalf("heartbeat via out from a server with no connector: %v; want the primary's own 550 5.7.1 refusal", err)
	}
}

// SR-6, OPS- (rt45 redirect, reload variant): a reload that renames the
// send connector the copies were recorded through leaves the sessions
// to their primary going through the connector that logs in to it now.
func TestSR6ReloadRenamingTheCopysConnectorKeepsThePrimaryReached(t *testing.T) {
	addr, pw := loginPrimary(t)
	login := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSRequired, SendXShadow: true, Auth: config.SendAuth{Username: "edge1", PasswordFile: pw}}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, login)
	d.st.Load().cfg.ShadowServerID = "edge1"
	if _, _, err := heartbeatIDs(d, context.Background(), "hub.test", addr+" via to-hub"); err != nil {
		t.Fatalf("heartbeat via to-hub before the reload: %v", err)
	}
	cfg := d.st.Load().cfg
	renamed := login
	renamed.Name = "to-hub-2"
	cfg.SendConnectors = []config.SendConnector{renamed}
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	db, ids, err := heartbeatIDs(d, context.Background(), "hub.test", addr+" via to-hub")
	if err != nil || db != "primary-db" || strings.Join(ids, ",") != "d1" {
		t.Fatalf("heartbeat via to-hub after a reload renamed it to-hub-2: %q %v %v; want it through to-hub-2", db, ids, err)
	}
}

// SR-6 (rt45 redirect): the connector a shadow session's copies are
// recorded through is one of this server's configured send connectors
// or none: never a topology connector this server does not configure
// (a route's, whose settings a redirect borrows, or a route's own), a
// name no session to the primary could use.
func TestSR6ShadowViaNamesConfiguredConnectorsOnly(t *testing.T) {
	conf := &sendConnector{cfg: config.SendConnector{Name: "conf"}}
	st := &state{conns: map[string]*sendConnector{"conf": conf}}
	for _, c := range []struct {
		what string
		conn *sendConnector
		want string
	}{
		{"a configured connector", conf, "conf"},
		{"a topology connector this server does not configure", &sendConnector{cfg: unwrittenConnector("out")}, ""},
		{"a redirect borrowing a configured connector", &sendConnector{cfg: config.SendConnector{Name: "conf"}, redirect: true, borrows: "conf"}, "conf"},
		{"a redirect borrowing a topology connector", &sendConnector{cfg: unwrittenConnector("out"), redirect: true, borrows: "out"}, ""},
		{"a redirect borrowing none", &sendConnector{cfg: config.SendConnector{Name: "redirect"}, redirect: true}, ""},
	} {
		if got := shadowVia(st, &group{conn: c.conn}); got != c.want {
			t.Errorf("%s: via %q, want %q", c.what, got, c.want)
		}
	}
}

// SR-6, OPS- (rt45 redirect, the local-failure rule): a session to a
// primary that cannot be opened because this server cannot bind its
// source address (removed from the host since the start checked it) is
// this server's fault: a LocalFault, which the shadow manager counts as
// no failed heartbeat, saying what to fix — and the primary is not
// marked for deliveries either. Counted as the primary's failure, every
// primary's copies were taken over at the retry count.
func TestSR6UnbindableSourceAddressIsALocalFault(t *testing.T) {
	addr, pw := loginPrimary(t)
	login := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSRequired, SendXShadow: true, Auth: config.SendAuth{Username: "edge1", PasswordFile: pw}}
	// What to do is what works: the server section applies only at a
	// restart (a reload keeps the running server.source_address, and
	// fails its check of it), a send connector's at a reload.
	for _, c := range []struct {
		what       string
		conns      []config.SendConnector
		want, todo string
	}{
		{"the organisation's own way", nil, "server.source_address 192.0.2.1", "and restart umbra"},
		{"through the connector that logs in", []config.SendConnector{login}, "send connector to-hub source_address 192.0.2.1", "and reload"},
	} {
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, c.conns...)
		st := d.st.Load()
		st.cfg.ShadowServerID = "edge1"
		// Set after the start's check (checkSourceAddresses): an
		// address the host no longer has (192.0.2.1: TEST-NET-1).
		st.cfg.SourceAddress = "192.0.2.1"
		if sc := st.conns["to-hub"]; sc != nil {
			sc.cfg.SourceAddress = "192.0.2.1"
		}
		_, _, err := heartbeatIDs(d, context.Background(), "hub.test", addr+" via out")
		var lf interface{ LocalFault() }
		if !errors.As(err, &lf) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.todo) {
			t.Fatalf("%s: heartbeat from a source address this host lacks: %v; want a LocalFault naming %s and what to do (%s)", c.what, err, c.want, c.todo)
		}
		if c.conns == nil && strings.Contains(err.Error(), "and reload") {
			t.Errorf("%s: %v; a reload does not change server.source_address (restart only)", c.what, err)
		}
		if d.health.Unhealthy("hub.test", addr) {
			t.Errorf("%s: the primary is marked for deliveries for a fault of this server's", c.what)
		}
		err = d.Watch(context.Background(), "hub.test", addr, func(string, uint64, []string, bool) error { return nil }, func() bool { return false })
		if !errors.As(err, &lf) {
			t.Fatalf("%s: watch session from a source address this host lacks: %v; want a LocalFault", c.what, err)
		}
	}
}

// SR-6, SR-16 (rt45 redirect, the local-failure rule): a push of a copy
// on receipt that failed here before any connection (a source address
// this server cannot bind) does not mark the shadow server for
// deliveries and heartbeats: it says nothing of that server.
func TestSR6ReceiptPushLocalFaultMarksNoServer(t *testing.T) {
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	r := &ReceiptShadow{d: d}
	s := &routing.Server{Name: "hub-b", Address: "127.0.0.180:14002"}
	r.dialFailed(context.Background(), d.st.Load(), s, &sourceFault{what: "server.source_address", addr: "192.0.2.1", err: errors.New("bind: cannot assign requested address")})
	if d.health.Unhealthy("hub-b", s.Address) {
		t.Errorf("hub-b marked for deliveries for a push that failed here")
	}
	r.dialFailed(context.Background(), d.st.Load(), s, errors.New("connection refused"))
	if !d.health.Unhealthy("hub-b", s.Address) {
		t.Errorf("hub-b not marked for a push it did not answer: the test proves nothing")
	}
}
