package mailbox

import (
	"errors"
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
	org := "0123456789abcdef0123456789abcdef"
	name := Name("DB1", org, "Bob@example.test")
	if name != Name("DB1", org, "bob@example.test") {
		t.Error("the name depends on the case of the recipient")
	}
	if name == Name("DB2", org, "bob@example.test") || name == Name("DB1", "0123456789abcdef0123456789abcdee", "bob@example.test") ||
		name == Name("DB1", org, "carol@example.test") {
		t.Error("different deliveries share a name")
	}
	dir := d.Path("bob", "example.test")
	count := func() int {
		n, _ := os.ReadDir(filepath.Join(dir, "new"))
		c, _ := os.ReadDir(filepath.Join(dir, "cur"))
		return len(n) + len(c)
	}
	if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver("bob", "example.test", "a@b", name, body); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatalf("second delivery of one name: %v, want ErrAlreadyDelivered", err)
	}
	if count() != 1 {
		t.Fatalf("%d files after two deliveries of one name", count())
	}
	news, _ := os.ReadDir(filepath.Join(dir, "new"))
	os.Rename(filepath.Join(dir, "new", news[0].Name()), filepath.Join(dir, "cur", news[0].Name()+":2,S"))
	if err := d.Deliver("bob", "example.test", "a@b", name, body); !errors.Is(err, ErrAlreadyDelivered) || count() != 1 {
		t.Fatalf("after a reader moved it: err %v, %d files", err, count())
	}
	os.RemoveAll(dir)
	if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil || count() != 1 {
		t.Fatalf("after the store was wiped: err %v, %d files", err, count())
	}
}

// Two servers (two hosts) delivering the same copy into one shared store
// write one file, also when they race: the name holds no host, and the
// link into new/ never replaces a file (issue 19 defect 5).
func TestSharedStoreTwoServersOneFile(t *testing.T) {
	root := t.TempDir()
	a, b := &Maildir{Root: root, Hostname: "hub1.test"}, &Maildir{Root: root, Hostname: "hub2.test"}
	name := Name("DB1", "0123456789abcdef0123456789abcdef", "bob@example.test")
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	for round := 0; round < 50; round++ {
		os.RemoveAll(filepath.Join(root, "example.test"))
		errs := make(chan error, 2)
		for _, d := range []*Maildir{a, b} {
			go func() { errs <- d.Deliver("bob", "example.test", "a@b", name, body) }()
		}
		wrote, found := 0, 0
		for i := 0; i < 2; i++ {
			switch err := <-errs; {
			case err == nil:
				wrote++
			case errors.Is(err, ErrAlreadyDelivered):
				found++ // reported as a suppressed duplicate, not a delivery
			default:
				t.Fatal(err)
			}
		}
		if wrote != 1 || found != 1 {
			t.Fatalf("round %d: %d wrote, %d found it there", round, wrote, found)
		}
		dir := a.Path("bob", "example.test")
		news, _ := os.ReadDir(filepath.Join(dir, "new"))
		tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
		if len(news) != 1 || len(tmps) != 0 {
			t.Fatalf("round %d: %d files in new/, %d in tmp/", round, len(news), len(tmps))
		}
	}
}
