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
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

type primaryQueue struct{}

func (primaryQueue) NewID() queue.ID                                      { return 1 }
func (primaryQueue) Submit(context.Context, *queue.Message, []byte) error { return nil }
func (primaryQueue) WaitGone(queue.ID) (<-chan struct{}, func())          { return nil, func() {} }
func (primaryQueue) Discards(server string, max int) ([]string, func()) {
	return []string{"d1"}, func() {}
}
func (primaryQueue) DatabaseID() string { return "primary-db" }

// A heartbeat to a primary reached through a send connector with auth logs
// in as that connector does: a primary that knows its shadow servers only
// by SASL server accounts must not see a heartbeat as a stranger (that
// would end in a takeover of a healthy primary).
func TestHeartbeatLogsInLikeItsConnector(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds := filepath.Join(dir, "creds")
	os.WriteFile(creds, []byte("edge1:"+string(hash)+":server\n"), 0o600)
	// The login goes over TLS: credentials never go in the clear
	// (smtp/clientauth.go), whatever the connector says.
	certPEM, keyPEM, _ := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {servers: [submit, relay, accept-xshadow]}
`, certFile, keyFile, creds)), "primary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub.test", Connectors: cfg.ReceiveConnectors,
		Routing: nil, Queue: primaryQueue{}, Shadow: primaryQueue{}, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	addr := srv.Addrs()[0].String()

	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	sc := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSRequired, SendXShadow: true, Auth: config.SendAuth{Username: "edge1", PasswordFile: pw}}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.ShadowServerID = "edge1"

	db, ids, err := heartbeatIDs(d, context.Background(), "hub.test", addr+" via to-hub")
	if err != nil || db != "primary-db" || strings.Join(ids, ",") != "d1" {
		t.Fatalf("heartbeat via the connector: %q %v %v", db, ids, err)
	}
	// A primary recorded without a connector (the copies came on
	// receipt, pushed by it) is reached the same way: every session to
	// another transport server logs in through the connector that logs
	// in to it (loginVia) — heartbeats, watch sessions, reconciling.
	db, ids, err = heartbeatIDs(d, context.Background(), "hub.test", addr)
	if err != nil || db != "primary-db" || strings.Join(ids, ",") != "d1" {
		t.Fatalf("heartbeat to the plain address: %q %v %v", db, ids, err)
	}
	var watched []string
	err = d.Watch(context.Background(), "hub.test", addr, func(dbID string, _ uint64, ids []string, contact bool) error {
		watched = append(watched, ids...)
		return nil
	}, func() bool { return false })
	if err != nil || strings.Join(watched, ",") != "d1" {
		t.Fatalf("watch session to the plain address: %v %v", watched, err)
	}
	// Without a login the same primary refuses XSHADOW: a refusal
	// carrying its reply (shadow.Refusal), which is no failed heartbeat.
	anon := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	anon.st.Load().cfg.ShadowServerID = "edge1"
	_, _, err = heartbeatIDs(anon, context.Background(), "hub.test", addr)
	var ref interface{ Refusal() string }
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1 ") || strings.Contains(ref.Refusal(), "5.7.1 5.7.1") {
		t.Fatalf("an anonymous heartbeat: %v; want a refusal with the primary's 550 5.7.1", err)
	}
	err = anon.Watch(context.Background(), "hub.test", addr, func(string, uint64, []string, bool) error { return nil }, func() bool { return false })
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1 ") {
		t.Fatalf("an anonymous watch session: %v; want a refusal with the primary's 550 5.7.1", err)
	}
	// A login the primary refuses (an account removed, a password
	// changed: 535) is an answer too, not a missed heartbeat.
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	wrong := sc
	wrong.Auth.PasswordFile = bad
	wd := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, wrong)
	wd.st.Load().cfg.ShadowServerID = "edge1"
	_, _, err = heartbeatIDs(wd, context.Background(), "hub.test", addr)
	// The whole reply, its enhanced status code too (rt15: the log lost
	// the 5.7.8 the primary sent).
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "535 5.7.8 ") {
		t.Fatalf("a heartbeat whose login is refused: %v; want a refusal with the primary's whole 535 5.7.8 reply", err)
	}
	// The refusal carries the digest of the primary's database id, which
	// it advertised before the login (rt15 N1): a replacement with a new
	// database is recognised although the login never succeeds. Not the
	// id itself: that stays for sessions that logged in.
	var dd interface{ DatabaseDigest() string }
	if !errors.As(err, &dd) || dd.DatabaseDigest() != queue.DatabaseDigest("primary-db") {
		t.Fatalf("a heartbeat whose login is refused: %v; want the primary's database digest with the refusal", err)
	}
	_, _, err = heartbeatIDs(anon, context.Background(), "hub.test", addr)
	if !errors.As(err, &dd) || dd.DatabaseDigest() != queue.DatabaseDigest("primary-db") {
		t.Fatalf("a heartbeat whose XSHADOW is refused: %v; want the primary's database digest with the refusal", err)
	}
	err = wd.Watch(context.Background(), "hub.test", addr, func(string, uint64, []string, bool) error { return nil }, func() bool { return false })
	if !errors.As(err, &dd) || dd.DatabaseDigest() != queue.DatabaseDigest("primary-db") {
		t.Fatalf("a watch session whose login is refused: %v; want the primary's database digest with the refusal", err)
	}
}

// loginVia takes a connector whose smart host is the server: its address
// exactly first, else its name or host on the same port; never one to
// another port of the same host (another service, another account).
func TestLoginViaSamePortOnly(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	conn := func(name string, hosts ...string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: name + ".invalid", Cost: 1}},
			SmartHosts: hosts, TLS: config.TLSNone, Auth: config.SendAuth{Username: "u-" + name, PasswordFile: pw}}
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{},
		conn("a-other", "127.0.0.9:2626"), conn("b-name", "hub9.test:2525"), conn("c-exact", "127.0.0.9:2525"))
	if got := loginVia(d.st.Load(), "hub9.test", "127.0.0.9:2525"); got != "c-exact" {
		t.Errorf("loginVia with an exact address: %q, want c-exact", got)
	}
	d = newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("a-other", "127.0.0.9:2626"), conn("b-name", "hub9.test:2525"))
	if got := loginVia(d.st.Load(), "hub9.test", "127.0.0.9:2525"); got != "b-name" {
		t.Errorf("loginVia by name on the same port: %q, want b-name", got)
	}
	d = newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("a-other", "127.0.0.9:2626"))
	if got := loginVia(d.st.Load(), "hub9.test", "127.0.0.9:2525"); got != "" {
		t.Errorf("loginVia chose %q, a connector to another port of the host", got)
	}
}
