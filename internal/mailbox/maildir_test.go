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

// Every copy of a message for one mailbox has one name, so a repeated
// delivery (after a crash, or a resubmitted copy) writes nothing new,
// also once a reader moved the file to cur/ with flags. A wiped store
// (a failed-over database) gets it again.
func TestDeliverOnceByName(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	name := Name("DB1", "<a@b>", "Bob@example.test", "00AA", 0)
	if name != Name("DB1", "a@b", "bob@example.test", "00BB", 3) {
		t.Error("the name depends on the queue copy")
	}
	if name == Name("DB2", "<a@b>", "bob@example.test", "00AA", 0) || name == Name("DB1", "<a@c>", "bob@example.test", "00AA", 0) {
		t.Error("different deliveries share a name")
	}
	if Name("DB1", "", "bob@example.test", "00AA", 0) == Name("DB1", "", "bob@example.test", "00AA", 1) {
		t.Error("without Message-ID, recipients of one message share a name")
	}
	dir := d.Path("bob", "example.test")
	count := func() int {
		n, _ := os.ReadDir(filepath.Join(dir, "new"))
		c, _ := os.ReadDir(filepath.Join(dir, "cur"))
		return len(n) + len(c)
	}
	for i := 0; i < 2; i++ {
		if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil {
			t.Fatal(err)
		}
	}
	if count() != 1 {
		t.Fatalf("%d files after two deliveries of one name", count())
	}
	news, _ := os.ReadDir(filepath.Join(dir, "new"))
	os.Rename(filepath.Join(dir, "new", news[0].Name()), filepath.Join(dir, "cur", news[0].Name()+":2,S"))
	if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil || count() != 1 {
		t.Fatalf("after a reader moved it: err %v, %d files", err, count())
	}
	os.RemoveAll(dir)
	if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil || count() != 1 {
		t.Fatalf("after the store was wiped: err %v, %d files", err, count())
	}
}
