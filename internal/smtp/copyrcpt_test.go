package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// The address and ports of this file's servers.
const (
	copyRcptIP        = "127.0.0.121"
	copyRcptPortFirst = 37200
	copyRcptPorts     = 50
)

// copyRcptAddr is a free TCP address on copyRcptIP in this file's ports,
// tried from a random one on (the kernel's choice otherwise lands outside
// them).
func copyRcptAddr(t *testing.T) string {
	return freeAddrIn(t, copyRcptIP, copyRcptPortFirst, copyRcptPortFirst+copyRcptPorts)
}

// downHop is a callout's verifier whose next hop is a server that is
// down: it dials the hop's address, where nothing listens, as
// delivery's verifier does, and cannot decide. It counts the callouts.
type downHop struct {
	addr  string
	asked atomic.Int32
}

func (h *downHop) Verify(ctx context.Context, address string) (recipients.Verdict, string, error) {
	h.asked.Add(1)
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return recipients.CannotDecide, "", fmt.Errorf("connect to hub-c: %w", err)
	}
	c.Close()
	return recipients.CannotDecide, "", errors.New("hub-c: no SMTP answer")
}

// memRcptCache is a callout cache in memory (the daemon's is a bucket of
// its transport database).
type memRcptCache struct {
	mu sync.Mutex
	m  map[string]recipients.Entry
}

func (c *memRcptCache) GetRecipient(address string) (recipients.Entry, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[address]
	return e, ok, nil
}

func (c *memRcptCache) PutRecipient(_ context.Context, address string, e recipients.Entry, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]recipients.Entry{}
	}
	c.m[address] = e
	return nil
}

func (c *memRcptCache) PruneRecipients(context.Context, time.Time, time.Time) (int, error) {
	return 0, nil
}

// tempfailCheck is an edge check of MAIL and RCPT (a milter that is
// down, whose default action tempfails) that answers each command it is
// asked with its reply while one is set, and lists what it was asked.
type tempfailCheck struct {
	mu         sync.Mutex
	mail, rcpt *gosmtp.SMTPError
	seen       []string
}

func (c *tempfailCheck) Name() string { return "tempfail" }
func (c *tempfailCheck) Mail(_ context.Context, _ *ConnInfo, from string, _ *gosmtp.MailOptions) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, "mail "+from)
	return Verdict{Reply: c.mail}
}
func (c *tempfailCheck) Rcpt(_ context.Context, _ *ConnInfo, _, to string) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, "rcpt "+to)
	return Verdict{Reply: c.rcpt}
}

func (c *tempfailCheck) set(mail, rcpt *gosmtp.SMTPError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mail, c.rcpt, c.seen = mail, rcpt, nil
}

func (c *tempfailCheck) asked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// holderValidator validates relay.test by a callout whose next hop is
// down and example.test by a directory that lists nobody: no recipient
// of either is ever Known here.
func holderValidator(t *testing.T, hop *downHop) *recipients.Validator {
	t.Helper()
	co := recipients.NewCallout(recipients.CalloutConfig{Verifier: hop, Cache: &memRcptCache{}, Timeout: 5 * time.Second})
	return recipients.NewValidator([]recipients.DomainMode{
		{Pattern: "example.test", Mode: recipients.ModeDirectory},
		{Pattern: "relay.test", Mode: recipients.ModeCallout},
	}, recipients.Chain(nil), co)
}

// copyHolder is a transport server of version 6 (batches) on this file's
// address, with the recipient validation of holderValidator and the edge
// check ck on its transport connector.
func copyHolder(t *testing.T, hop *downHop, ck Check) (*Server, *batchQueue) {
	t.Helper()
	conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, copyRcptAddr(t), credsFile(t)))
	q := &batchQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	cfg := ServerConfig{Hostname: "hub-b.test", Connectors: conns, Routing: testTable(), Queue: q, Shadow: sh, ShadowEnabled: true,
		Recipients: holderValidator(t, hop)}
	if ck != nil {
		cfg.Checks = func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s, q
}

// SR-17, avail40: a copy on receipt is of mail its primary accepted and
// validated; the holder keeps it and delivers it only after a takeover.
// Its recipients are its primary's: the holder's own recipient
// validation does not judge them. Here the holder (hub-b) validates
// relay.test by a callout whose next hop (hub-c) is down, and lists
// nobody at example.test: the primary's copy of a message to both is
// still taken — the message is copied, not held by the primary only —,
// and the holder makes no callout for it. Refused 451 4.3.0 by the
// callout, one server down (hub-c) made shadow redundancy unavailable
// to the others for as long as it was.
func TestSR17CopyOnReceiptNotRefusedByHolderRecipientValidation(t *testing.T) {
	hop := &downHop{addr: copyRcptAddr(t)} // hub-c: nothing listens there
	holder, holderQ := copyHolder(t, hop, nil)
	conns := connectors(t, fmt.Sprintf(`
  - name: client
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    shadow_on_receipt: prefer-remote
`, copyRcptAddr(t)))
	q := &blockingGoneQueue{}
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	primary, err := NewServer(ServerConfig{Hostname: "hub-a.test", Connectors: conns, Routing: testTable(), Queue: q, Shadow: sh,
		ShadowEnabled: true, Clock: clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	primary.SetReceiptShadow(&fakeReceipt{peer: holder})
	if err := primary.Listen(); err != nil {
		t.Fatal(err)
	}
	primary.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); primary.Shutdown(ctx) })

	d := dial(t, primary, copyRcptIP)
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@relay.test>", "250")
	d.cmd("RCPT TO:<y@example.test>", "250")
	d.cmd("DATA", "354")
	got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
	if !strings.Contains(got, "shadow copy on hub-b") {
		t.Fatalf("reply %q; want the message copied to hub-b", got)
	}
	if q.count() != 1 || q.msgs[0].ShadowServer != "hub-b" {
		t.Fatalf("primary queued %d messages (%+v); want one copied to hub-b", q.count(), q.msgs)
	}
	if n := len(holderQ.copies); n != 1 || len(holderQ.copies[0].m.Rcpts) != 2 {
		t.Fatalf("holder kept %d copies (%+v); want one for both recipients", n, holderQ.copies)
	}
	if n := hop.asked.Load(); n != 0 {
		t.Errorf("the holder made %d callouts for a shadow copy's recipients", n)
	}
}

// SR-17, W-2, avail40 siblings: in a shadow session, every copy the
// holder takes — a copy on receipt (XSHADOWCOPY=) and each copy of a
// batch (XSHADOWBATCH=) — meets neither the holder's recipient
// validation (callout, directory) nor its edge checks of MAIL and RCPT
// (a milter that is down and tempfails, a rate limit): they judge mail
// this server is to deliver, and a copy is its primary's, checked there.
// A relay in the same session (XSHADOW=) is mail this server delivers:
// validated and checked as any.
func TestSR17ShadowCopiesNotJudgedByHolderRcptChecks(t *testing.T) {
	hop := &downHop{addr: copyRcptAddr(t)}
	milterDown := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Service unavailable, try again later"}
	ck := &tempfailCheck{mail: milterDown, rcpt: milterDown}
	holder, q := copyHolder(t, hop, ck)
	d := dial(t, holder, copyRcptIP)
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<x@relay.test>", "250")        // its callout's next hop is down
	d.cmd("RCPT TO:<nobody@example.test>", "250") // the directory here does not list it
	d.cmd("RCPT TO:<z@elsewhere.org>", "250")     // the RCPT check tempfails
	d.cmd("DATA", "354")
	d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: copy\r\n\r\nhello\r\n.", "250 2.0.0 Shadow copy kept")
	if len(q.copies) != 1 || len(q.copies[0].m.Rcpts) != 3 {
		t.Fatalf("kept %d copies (%+v); want one for its three recipients", len(q.copies), q.copies)
	}
	for _, seen := range ck.asked() {
		if strings.HasPrefix(seen, "mail ") || strings.HasPrefix(seen, "rcpt ") {
			t.Errorf("the edge check was asked %q for a shadow copy", seen)
		}
	}
	// A relay in the same session is this server's to deliver.
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=m-1", "451 4.7.1")
	ck.set(nil, milterDown)
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=m-2", "250")
	d.cmd("RCPT TO:<x@relay.test>", "451 4.3.0")
	d.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	d.cmd("RCPT TO:<z@elsewhere.org>", "451 4.7.1")
	d.cmd("RSET", "250")
	if n := hop.asked.Load(); n != 1 {
		t.Errorf("%d callouts; want one, the relay's", n)
	}

	// A batch of copies: each copy's envelope as a copy's.
	ck.set(milterDown, milterDown)
	c, _ := shadowLogClient(t, holder)
	body := []byte("Subject: c\r\n\r\nhello\r\n")
	var recs [][]byte
	for _, m := range []*queue.Message{batchMsg("a@example.org", "w@relay.test"), batchMsg("b@example.org", "v@example.test", "u@elsewhere.org")} {
		rec, ok := c.CopyRecord(m, body)
		if !ok {
			t.Fatalf("%s cannot go in a batch", m.From)
		}
		recs = append(recs, rec)
	}
	errs, err := c.PushBatch(recs, "dbA")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("batch copy %d refused: %v", i+1, e)
		}
	}
	if len(q.copies) != 3 {
		t.Fatalf("kept %d copies; want the batch's two too", len(q.copies))
	}
	if n := hop.asked.Load(); n != 1 {
		t.Errorf("%d callouts after the batch; want still one", n)
	}
	if asked := ck.asked(); len(asked) != 0 {
		t.Errorf("the edge check was asked %q for a batch's copies", asked)
	}
}
