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

// SMTP-6/OPS (rt29c F7): a Maildir write that fails defers with the
// system's words for the cause in the reply queue show and message show
// give the operator ("not a directory", "permission denied", "read-only
// file system", "no space left on device"), not only "maildir write
// failed" with the cause in the log alone; never a path (it holds the
// recipient's address, which the reply's row names already) or a body.
func TestMaildirFailureCarriesItsCause(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: filepath.Join(blocker, "maildir")})
	m := message("alice@example.test")
	for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
		if r.Outcome != queue.Deferred {
			t.Fatalf("%+v", r)
		}
		if r.Reply != "451 4.3.0 maildir write failed: not a directory" {
			t.Errorf("reply %q; want the cause's words", r.Reply)
		}
		if strings.Contains(r.Reply, dir) {
			t.Errorf("reply %q names a path", r.Reply)
		}
	}
}
