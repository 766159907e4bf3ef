package resolver

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An edited hosts file is read again, after at most hostsRecheck.
func TestHostsFileReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(path, []byte("127.0.0.1 a.test\n"), 0o600)
	now := time.Unix(1000, 0)
	h := newHostsFile(path)
	h.now = func() time.Time { return now }
	if ips := h.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Fatalf("first read: %v", ips)
	}
	os.WriteFile(path, []byte("127.0.0.2 a.test\n127.0.0.3 b.test\n"), 0o600)
	if ips := h.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Fatalf("read again before the recheck: %v", ips)
	}
	now = now.Add(hostsRecheck)
	if ips := h.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.2" {
		t.Fatalf("after the recheck: %v", ips)
	}
	if ips := h.lookup("b.test"); len(ips) != 1 {
		t.Fatalf("new name: %v", ips)
	}
	os.Remove(path)
	now = now.Add(hostsRecheck)
	if ips := h.lookup("a.test"); ips != nil {
		t.Fatalf("removed file still answers: %v", ips)
	}
	var none *hostsFile
	if none.lookup("a.test") != nil || newHostsFile("") != nil {
		t.Fatal("no hosts file answers")
	}
}

func FuzzParseHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 ip6-localhost # c\n"))
	f.Add([]byte("fe80::1%eth0 x\nbad y\n\n#\n1.2.3.4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, ips := range parseHosts(data) {
			if name == "" || len(ips) == 0 {
				t.Fatalf("empty entry %q %v", name, ips)
			}
			for _, ip := range ips {
				if ip == nil {
					t.Fatal("nil address")
				}
			}
		}
	})
}

// EDGE-1 (rt28c F2, the same rule as the console's credentials file): a
// hosts file changed to the same size with its mtime put back (cp -p,
// rsync -t), or a symlink to it swapped to another file with the same
// size and mtime, is read again at the recheck.
func TestHostsFileRereadSameSizeAndMtime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	mtime := time.Unix(1, 0)
	os.WriteFile(path, []byte("127.0.0.1 a.test\n"), 0o600)
	os.Chtimes(path, mtime, mtime)
	now := time.Unix(1000, 0)
	h := newHostsFile(path)
	h.now = func() time.Time { return now }
	if ips := h.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Fatalf("first read: %v", ips)
	}
	os.WriteFile(path, []byte("127.0.0.9 a.test\n"), 0o600)
	os.Chtimes(path, mtime, mtime)
	now = now.Add(hostsRecheck)
	if ips := h.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.9" {
		t.Fatalf("a change of the same size with the mtime put back is not read: %v", ips)
	}
	// A symlink swapped between two files with the same size and mtime.
	a, b := filepath.Join(dir, "store-a"), filepath.Join(dir, "store-b")
	os.WriteFile(a, []byte("127.0.0.5 a.test\n"), 0o600)
	os.WriteFile(b, []byte("127.0.0.6 a.test\n"), 0o600)
	os.Chtimes(a, mtime, mtime)
	os.Chtimes(b, mtime, mtime)
	link := filepath.Join(dir, "hosts-link")
	os.Symlink(a, link)
	h2 := newHostsFile(link)
	h2.now = func() time.Time { return now }
	if ips := h2.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.5" {
		t.Fatalf("first read through the link: %v", ips)
	}
	os.Symlink(b, link+".tmp")
	os.Rename(link+".tmp", link)
	now = now.Add(hostsRecheck)
	if ips := h2.lookup("a.test"); len(ips) != 1 || ips[0].String() != "127.0.0.6" {
		t.Fatalf("a symlink swapped to a file with the same size and mtime is not read: %v", ips)
	}
}

// Names in the hosts file compare as DNS names do, without ASCII case
// only (RFC 4343): "KEEPER.corp.test" is keeper.corp.test, but a name
// with the Kelvin sign (U+212A, which Unicode lowers to "k") is another
// name, in a question as in the file — never the internal host's
// address for a name that merely lowers to it.
func TestHostsFileFoldsASCIIOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(path, []byte("10.0.0.1 keeper.corp.test\n10.0.0.2 \u212Aing.corp.test\n"), 0o600)
	h := newHostsFile(path)
	if ips := h.lookup("KEEPER.corp.test."); len(ips) != 1 || ips[0].String() != "10.0.0.1" {
		t.Fatalf("the name in capitals: %v", ips)
	}
	if ips := h.lookup("\u212Aeeper.corp.test"); ips != nil {
		t.Fatalf("a Kelvin-sign name answered with keeper's address: %v", ips)
	}
	if ips := h.lookup("king.corp.test"); ips != nil {
		t.Fatalf("king answered with the Kelvin-sign name's address: %v", ips)
	}
	if ips := h.lookup("\u212Aing.corp.test"); len(ips) != 1 || ips[0].String() != "10.0.0.2" {
		t.Fatalf("the Kelvin-sign name as written: %v", ips)
	}
}
