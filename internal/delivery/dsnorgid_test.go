package delivery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SR-14, TD- (dumpster redelivery; rt38 F1): a DSN written into a
// mailbox carries its own organisation id, as every message umbra
// writes there does, so the mailbox knows it again: over LMTP the
// shipped Sieve rule (duplicate on X-Umbra-Org-Id) drops the copy a
// dumpster resubmit brings back, and the Maildir writer finds it by
// that header under a reader's name in another folder. Before, a DSN
// was written with no X-Umbra- field, and every resubmit delivered the
// DSNs in its window a second time. The id is the DSN's own, never the
// id of the message it reports; no other umbra field goes with it.
func TestDSNIntoMailboxCarriesItsOwnOrgID(t *testing.T) {
	org := "0123456789abcdef0123456789abcdef"
	stored := []byte("Received: from c\r\n\tby umbra.test; now\r\nSubject: Delivery Status Notification\r\n\r\nreport\r\n")
	line := "X-Umbra-Org-Id: " + org + "\r\n"
	umbraFields := func(b string) int {
		return strings.Count(strings.ToLower(b), "\nx-umbra-") + strings.Count(strings.ToLower(b[:min(len(b), 8)]), "x-umbra-")
	}

	root := t.TempDir()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	dsn := func(rcpt string) *queue.Message {
		m := message(rcpt)
		m.From, m.OrgID, m.Internal = "", org, true
		return m
	}
	m := dsn("alice@example.test")
	for _, r := range d.Deliver(context.Background(), m, stored, all(m)) {
		if r.Outcome != queue.DeliveredOK {
			t.Fatalf("%+v", r)
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("new: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(b), line) && !strings.Contains(string(b), "\n"+line) || umbraFields(string(b)) != 1 {
		t.Errorf("a DSN in a Maildir, want its id line and no other umbra field:\n%s", b)
	}
	// A reader moved it to a folder under a name of its own; the dumpster
	// redelivers it: found by its header, a suppressed duplicate.
	folder := filepath.Join(root, "example.test", "alice", ".Archive", "cur")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(files[0], filepath.Join(folder, "1796317000.M5P7.mbx,S=400,W=410:2,S")); err != nil {
		t.Fatal(err)
	}
	m = dsn("alice@example.test")
	m.Prior, m.Scan = queue.PriorRedelivery, "request-1"
	for _, r := range d.Deliver(context.Background(), m, stored, all(m)) {
		if r.Outcome != queue.DeliveredOK || !r.Duplicate {
			t.Errorf("the redelivered DSN: %+v, want a suppressed duplicate", r)
		}
	}
	if again, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "new", "*")); len(again) != 0 {
		t.Errorf("the redelivered DSN written again: %v", again)
	}

	s := startSink(t, "127.0.0.125:9523", true, nil)
	d = newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
	m = dsn("bob@example.test")
	if r := d.Deliver(context.Background(), m, stored, all(m)); r[0].Outcome != queue.DeliveredOK {
		t.Fatalf("lmtp: %+v", r)
	}
	if got := s.received(); len(got) != 1 || !strings.Contains(got[0].body, line) || umbraFields(got[0].body) != 1 {
		t.Errorf("a DSN over LMTP, want its id line and no other umbra field:\n%+v", got)
	}
}
