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
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {servers: [submit, relay, accept-xshadow]}
`, creds)), "primary.yaml")
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
		SmartHosts: []string{addr}, TLS: config.TLSNone, SendXShadow: true, Auth: config.SendAuth{Username: "edge1", PasswordFile: pw}}
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
	err = d.Watch(context.Background(), "hub.test", addr, func(dbID string, ids []string, contact bool) error {
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
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1 ") {
		t.Fatalf("an anonymous heartbeat: %v; want a refusal with the primary's 550 5.7.1", err)
	}
	err = anon.Watch(context.Background(), "hub.test", addr, func(string, []string, bool) error { return nil }, func() bool { return false })
	if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1 ") {
		t.Fatalf("an anonymous watch session: %v; want a refusal with the primary's 550 5.7.1", err)
	}
}
