package delivery

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
	"umbra/internal/smtp"
)

func openQueue(t *testing.T, clk clock.Clock) (*queue.Store, *queue.Manager) {
	t.Helper()
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q := queue.NewManager(s, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
		queue.ManagerConfig{Clock: clk})
	return s, q
}

// startTransportServer runs an SMTP server named name (hostname host;
// its configuration read as the file file) whose one receive connector,
// transport, trusts loopback as externally secured and gives it submit,
// relay and the shadow verbs (q queues, sh answers the verbs); it is
// shut down when the test ends. It returns the connector's address.
func startTransportServer(t *testing.T, name, host, file string, q smtp.Queue, sh smtp.ShadowVerbs) string {
	t.Helper()
	cfg, err := config.Parse([]byte(`server: {name: `+name+`}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`), file)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: host, Connectors: cfg.ReceiveConnectors,
		Queue: q, Shadow: sh, ShadowEnabled: true})
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
	return srv.Addrs()[0].String()
}

// F1, the copies stranded anyway: a shadow copy whose discard
// notification went missing (here: the primary never had one to send —
// it has no record of the message) is dropped once the shadow server asks
// the primary about its old copies (XQUERYHELD); a copy of a message the
// primary still holds undelivered stays. Both sides are real queues over
// real SMTP.
func TestStrandedCopyReconciled(t *testing.T) {
	clk := clock.NewFake(time.Now())
	const body = "Subject: hi\r\n\r\nhi\r\n"

	// The primary: a real queue behind its shadow verbs. It still holds
	// one message shadowed by edge1 (recipient pending).
	ps, pq := openQueue(t, clk)
	heldOrg := orgid.New()
	pm := &queue.Message{ID: ps.NewID(clk.Now()), From: "a@example.org", OrgID: heldOrg, ShadowServer: "edge1", ShadowID: heldOrg,
		Rcpts: []queue.Recipient{{Addr: "b@example.test"}}}
	if err := pq.Submit(context.Background(), pm, []byte(body)); err != nil {
		t.Fatal(err)
	}
	addr := startTransportServer(t, "hub.test", "hub.test", "primary.yaml", pq, pq)

	// The shadow server edge1 holds two copies on receipt for hub.test:
	// the held one, and a stranded one the primary knows nothing of.
	ss, sq := openQueue(t, clk)
	submitCopy := func(org string) queue.ID {
		m := &queue.Message{ID: ss.NewID(clk.Now()), From: "a@example.org", OrgID: org, Rcpts: []queue.Recipient{{Addr: "b@example.test"}}}
		if stored, err := sq.SubmitShadowCopy(context.Background(), m, []byte(body), "hub.test", addr, pq.DatabaseID()); err != nil || !stored {
			t.Fatalf("copy: %v %v", stored, err)
		}
		return m.ID
	}
	heldCopy := submitCopy(heldOrg)
	strandedCopy := submitCopy(orgid.New())
	young := orgid.New()

	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	rec := shadow.NewRecorder(shadowstore.Store{M: &sq}, nil, nil)
	d.st.Load().cfg.ShadowServerID, d.st.Load().cfg.Shadows = "edge1", rec
	m := shadow.New(shadow.Config{Timeout: 24 * time.Hour, Retries: 3, Clock: clk, Store: shadowstore.Store{M: &sq},
		Heartbeater: d, Recorder: rec, Runner: onlyReconcile{}})

	// Young copies are not asked about: the primary may not have
	// committed a message whose copy it pushed on receipt.
	m.Step(context.Background())
	if got, _ := sq.Message(strandedCopy); got == nil {
		t.Fatal("a young copy was dropped")
	}
	clk.Advance(queue.HeldQueryAge + time.Minute)
	youngCopy := submitCopy(young)
	clk.Advance(11 * time.Minute) // the next reconciliation
	m.Step(context.Background())
	if got, _ := sq.Message(strandedCopy); got != nil {
		t.Fatalf("the stranded copy is still held: %+v", got)
	}
	if got, _ := sq.Message(heldCopy); got == nil {
		t.Fatal("the copy of a message the primary still holds was dropped")
	}
	if got, _ := sq.Message(youngCopy); got == nil {
		t.Fatal("a copy younger than an hour was dropped")
	}
}

// onlyReconcile runs reconciliation sessions at once, in the step, and
// refuses the others (the watch sessions the copies' pushes ask for).
type onlyReconcile struct{}

func (onlyReconcile) StartTask(ctx context.Context, dest, _ string, _ int, fn func(context.Context) error) bool {
	if !strings.HasPrefix(dest, shadow.ReconcileDest) {
		return false
	}
	_ = fn(ctx)
	return true
}
