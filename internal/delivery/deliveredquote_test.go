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

// A message delivered into a Maildir for a recipient whose quoted local
// part holds an unclosed quote ("\"abc"@…, as RCPT stores it) comes back
// with the Delivered-To that delivery wrote: it is the same mail loop
// (554 5.4.6), the field read as RCPT reads a path.
func TestMaildirDeliveredToQuotedLocalPartLoops(t *testing.T) {
	for _, rcpt := range []string{`"\"abc"@example.test`, `"\""@example.test`, `"an na"@example.test`} {
		root := t.TempDir()
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message(rcpt)
		if got := d.Deliver(context.Background(), m, []byte("Subject: hi\r\n\r\nhello\r\n"), all(m)); len(got) != 1 || got[0].Outcome != queue.DeliveredOK {
			t.Fatalf("%s: first delivery %+v", rcpt, got)
		}
		files, _ := filepath.Glob(filepath.Join(root, "example.test", "*", "new", "*"))
		if len(files) != 1 {
			t.Fatalf("%s: files %v", rcpt, files)
		}
		back, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		got := d.Deliver(context.Background(), m, back, all(m))
		if len(got) != 1 || got[0].Outcome != queue.FailedPerm || !strings.HasPrefix(got[0].Reply, "554 5.4.6") {
			t.Errorf("%s: the message back with %q: %+v; want the loop refused", rcpt, strings.SplitN(string(back), "\r\n", 3)[1], got)
		}
	}
}
