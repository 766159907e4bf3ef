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
