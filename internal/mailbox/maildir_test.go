package mailbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No local part or domain can name a path outside the tree.
func TestPathStaysInsideRoot(t *testing.T) {
	d := &Maildir{Root: "/srv/mail"}
	for _, c := range [][2]string{
		{"../../etc/passwd", "example.test"}, {"..", "example.test"}, {"a", ".."}, {".hidden", "x"},
		{"a/b", "c/d"}, {"", ""}, {"a\x00b", "x"}, {`..\..`, "x"},
	} {
		p := d.Path(c[0], c[1])
		rel, err := filepath.Rel(d.Root, p)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Errorf("Path(%q, %q) = %q escapes or nests", c[0], c[1], p)
		}
	}
	if d.Path("Alice", "Example.TEST") != d.Path("alice", "example.test") {
		t.Error("mailbox names are case-insensitive")
	}
}

func TestDeliverIsAtomic(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	if err := d.Deliver("bob", "example.test", "a@example.org", "0001", []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	dir := d.Path("bob", "example.test")
	news, _ := os.ReadDir(filepath.Join(dir, "new"))
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(news) != 1 || len(tmps) != 0 {
		t.Fatalf("new %d tmp %d", len(news), len(tmps))
	}
	if fi, _ := os.Stat(filepath.Join(dir, "new", news[0].Name())); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	// A read-only tree fails the delivery instead of pretending.
	ro := &Maildir{Root: filepath.Join(t.TempDir(), "ro")}
	os.MkdirAll(ro.Root, 0o500)
	if os.Geteuid() != 0 {
		if err := ro.Deliver("bob", "example.test", "", "0002", []byte("x\r\n")); err == nil {
			t.Error("delivery into a read-only tree reported success")
		}
	}
}
