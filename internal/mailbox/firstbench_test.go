package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// bigMailbox is alice's mailbox with n read messages in cur/ (empty
// files under umbra's names), made once per benchmark.
func bigMailbox(b *testing.B, n int) (*Maildir, string) {
	d := &Maildir{Root: b.TempDir(), Hostname: "mx.test"}
	dir := d.Path("alice", "example.test")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, "cur", Name("DB1", fmt.Sprintf("%032x", i), "alice@example.test")+":2,S"), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return d, dir
}

// fixe19 item 2: one delivery into a mailbox of 20 000 read messages, as
// a first attempt (CheckFirst: two stats, no directory read) and as a
// repeat (CheckNames: every cur/ of the mailbox read by its names). The
// delivered file is removed after each, so every delivery writes.
func BenchmarkDeliverLargeMailbox(b *testing.B) {
	const files = 20000
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	for _, c := range []struct {
		name  string
		check Check
	}{{"first", CheckFirst}, {"repeat", CheckNames}} {
		b.Run(c.name, func(b *testing.B) {
			d, dir := bigMailbox(b, files)
			name := Name("DB1", "ffffffffffffffffffffffffffffffff", "alice@example.test")
			b.ResetTimer()
			for b.Loop() {
				if err := d.DeliverWith("alice", "example.test", "a@b", name, body, nil, Options{Check: c.check}); err != nil {
					b.Fatal(err)
				}
				os.Remove(filepath.Join(dir, "new", name))
			}
		})
	}
}
