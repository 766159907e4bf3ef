package resolver

import (
	"umbra/internal/filelimit"

	"bufio"
	"bytes"
	"net"
	"strings"
	"sync"
	"time"
)

// hostsRecheck is how often the hosts file's stat is looked at; it is
// read again when it changed (filelimit.Version: the identity of the
// file the path resolves to, size, mtime, ctime, or a read too soon
// after a change to vouch for them), and taken by its content.
const hostsRecheck = 5 * time.Second

// maxHostsFile bounds a read of the hosts file (filelimit).
const maxHostsFile = 64 << 20

// hostsFile is the operator's static table of names and addresses
// (hosts(5)), asked for addresses before DNS, as the system's resolver
// does with "files dns": a smart host or a topology server named only in
// /etc/hosts resolves. Only addresses come from it; MX, TXT, PTR and
// TLSA are DNS's alone, and an address from it is never Secure.
type hostsFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time
	ver     filelimit.Version // of the file byName was read from
	byName  map[string][]net.IP
}

func newHostsFile(path string) *hostsFile {
	if path == "" {
		return nil
	}
	return &hostsFile{path: path, now: time.Now}
}

// lookup returns the addresses listed for name (without ASCII case, a
// trailing dot ignored: hostsName), nil when none or when the file
// cannot be read.
func (h *hostsFile) lookup(name string) []net.IP {
	if h == nil {
		return nil
	}
	name = hostsName(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); h.byName == nil || now.Sub(h.checked) >= hostsRecheck || now.Before(h.checked) {
		h.checked = now
		h.refresh()
	}
	ips := h.byName[name]
	return append([]net.IP(nil), ips...)
}

// refresh reads the file again when it changed; h.mu held. A file that
// cannot be read is an empty table (the system's resolver does the same).
// Its size and mtime alone are not the test: a copy that kept both
// (cp -p, rsync -t, a symlink swapped between files of a Nix store)
// is a change too (rt28c F2).
func (h *hostsFile) refresh() {
	if h.byName != nil && h.ver.Unchanged(h.path) {
		return
	}
	data, ver, err := filelimit.ReadVersion(h.path, maxHostsFile, "a hosts file")
	if err != nil {
		h.byName, h.ver = map[string][]net.IP{}, filelimit.Version{}
		return
	}
	if h.byName == nil || !ver.SameContent(h.ver) {
		h.byName = parseHosts(data)
	}
	h.ver = ver
}

// parseHosts reads hosts(5) lines: an address, then names; '#' starts a
// comment. Lines whose first field is not an address are skipped. An
// address with a zone (fe80::1%eth0) is skipped: mail is not sent over
// link-local addresses.
func parseHosts(data []byte) map[string][]net.IP {
	out := map[string][]net.IP{}
	sc := bufio.NewScanner(bytes.NewReader(filelimit.TrimBOM(data)))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip := net.ParseIP(f[0])
		if ip == nil {
			continue
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		for _, n := range f[1:] {
			n = hostsName(n)
			if n == "" || hasIP(out[n], ip) {
				continue
			}
			out[n] = append(out[n], ip)
		}
	}
	return out
}

// hostsName is the form a hosts file's name and a question's compare
// in: a trailing dot gone, ASCII letters in lower case and every other
// byte as it is (RFC 4343, as wireName compares DNS names). Unicode
// case folding would make a name another's: U+212A (the Kelvin sign)
// lowers to "k" (TestHostsFileFoldsASCIIOnly).
func hostsName(n string) string {
	b := []byte(strings.TrimSuffix(n, "."))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func hasIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}
