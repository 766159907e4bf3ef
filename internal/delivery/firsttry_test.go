package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
	"umbra/internal/mailbox"
	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// fixe19 item 2: the first attempt of a message no attempt of this
// server began on (queue.PriorNone) writes without reading the
// mailbox's folders: the copy under its name in a folder's cur/ is not
// looked for (a listing of every cur/ of the mailbox, ~1 s per delivery
// for 200 000 read messages). What it still finds at a fixed cost: the
// name in the inbox's new/ (the link never replaces it) and in its cur/
// as an unread or read file (NAME:2, NAME:2,S: one stat each). A repeat
// (queue.PriorAttempt) looks everywhere, as before.
func TestFirstAttemptWritesWithoutListing(t *testing.T) {
	for _, c := range []struct {
		where string
		prior queue.Prior
		dup   bool
	}{
		{".Archive/cur/%s:2,S", queue.PriorNone, false},
		{".Archive/cur/%s:2,S", queue.PriorAttempt, true},
		{"cur/%s:2,FS", queue.PriorNone, false},
		{"cur/%s:2,FS", queue.PriorAttempt, true},
		{"cur/%s:2,S", queue.PriorNone, true},
		{"cur/%s:2,", queue.PriorNone, true},
		{"new/%s", queue.PriorNone, true},
	} {
		root := t.TempDir()
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message("alice@example.test")
		m.OrgID, m.Prior = "0123456789abcdef0123456789abcdef", c.prior
		box := filepath.Join(root, "example.test", "alice")
		for _, f := range []string{"", ".Archive"} {
			for _, sub := range []string{"tmp", "new", "cur"} {
				os.MkdirAll(filepath.Join(box, f, sub), 0o700)
			}
		}
		name := mailbox.Name("local", m.OrgID, "alice@example.test")
		if err := os.WriteFile(filepath.Join(box, filepath.FromSlash(fmt.Sprintf(c.where, name))), []byte("x\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := d.Deliver(context.Background(), m, body, all(m))
		if len(r) != 1 || r[0].Outcome != queue.DeliveredOK || r[0].Duplicate != c.dup {
			t.Errorf("copy in %s, prior %d: %+v; want duplicate %v", c.where, c.prior, r, c.dup)
		}
	}
}

// The Maildir writer finds a renamed copy by the header field the
// org id travels in: its name is orgid's.
func TestMailboxOrgHeaderIsOrgIDs(t *testing.T) {
	if mailbox.OrgHeader != orgid.Header {
		t.Fatalf("mailbox.OrgHeader %q, orgid.Header %q", mailbox.OrgHeader, orgid.Header)
	}
}
