package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"umbra/internal/mailaddr"
)

// listener is one address umbra listens on, and the setting naming it.
type listener struct {
	addr    string
	path    []any
	binding bool // a receive connector binding (the same one is shared)
}

// validateListeners refuses two listeners of this configuration that
// cannot both be opened: umbra listens with Go's "tcp" network, on which
// 0.0.0.0, [::] and an empty host all take every address of both
// families, so a wildcard collides with anything on its port, and two
// addresses collide when they are equal. Receive connectors that write
// the same binding share one listener (their remote ranges choose) and
// do not collide; port 0 (a port the system picks) never does. The
// later setting is blamed, naming the earlier one (rt22 F1).
func validateListeners(v *validator, c *Config) {
	ls := c.listeners()
	for i, l := range ls {
		for _, prev := range ls[:i] {
			if l.binding && prev.binding && l.addr == prev.addr {
				continue // one shared listener
			}
			if listenersCollide(prev.addr, l.addr) {
				v.add(fmt.Sprintf("%s %s and %s %s cannot both be listened on (the same port, and the same address or a wildcard that takes every address)",
					settingName(l.path), l.addr, settingName(prev.path), prev.addr), l.path...)
				break
			}
		}
	}
}

// listeners lists every address this configuration listens on.
func (c *Config) listeners() []listener {
	var ls []listener
	for i, rc := range c.ReceiveConnectors {
		for j, b := range rc.Bindings {
			ls = append(ls, listener{b, []any{"receive_connectors", i, "bindings", j}, true})
		}
	}
	if c.Server.MetricsListen != "" {
		ls = append(ls, listener{c.Server.MetricsListen, []any{"server", "metrics_listen"}, false})
	}
	if c.Console.Listen != "" {
		ls = append(ls, listener{c.Console.Listen, []any{"console", "listen"}, false})
	}
	if c.OutboundTLS.Publish.Listen != "" {
		ls = append(ls, listener{c.OutboundTLS.Publish.Listen, []any{"outbound_tls", "mta_sts_publish", "listen"}, false})
	}
	return ls
}

// Listener is one address this configuration listens on: Setting names
// it (receive_connectors[0].bindings[1]), Err puts a message at its line.
type Listener struct {
	Addr    string
	Setting string
	Binding bool // a receive connector's binding
	c       *Config
	path    []any
}

// Err is msg as an Error at the listener's line.
func (l Listener) Err(msg string) *Error { return l.c.ErrorAt(msg, l.path...) }

// Listeners lists every address this configuration listens on, in file
// order, each with its setting: for serve and SIGHUP to open them and
// blame a failure on its line.
func (c *Config) Listeners() []Listener {
	var out []Listener
	for _, l := range c.listeners() {
		out = append(out, Listener{Addr: l.addr, Setting: settingName(l.path), Binding: l.binding, c: c, path: l.path})
	}
	return out
}

// ListenersNotHere refuses, at its line, a listener whose IP address is
// not an address of this machine (an interface's, or loopback): serve
// would fail to bind it ("cannot assign requested address") with neither
// file nor line. config check and serve call it (not Load: it is true of
// the machine that runs the check). Where the system binds addresses it
// does not have (net.ipv4/ipv6.ip_nonlocal_bind, for a floating address)
// nothing is refused; host names are not resolved.
func (c *Config) ListenersNotHere() error {
	if c.doc == nil {
		return nil
	}
	var v validator
	for _, l := range c.listeners() {
		host, _, err := net.SplitHostPort(l.addr)
		if err != nil {
			continue // reported at its line
		}
		ip, ok := listenIP(host)
		if !ok || !ip.IsValid() || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
			continue // a link-local address is bound with its zone, which listenIP drops
		}
		// The bind the listener will make, asked of the kernel
		// (localaddr.go): no netlink, which the systemd units refuse,
		// and ip_nonlocal_bind honoured without /proc/sys.
		if err := CanBind(ip); errors.Is(err, ErrNotLocal) {
			v.add(fmt.Sprintf("%s %s: %s is not an address of this machine, so it cannot be listened on "+
				"(for a floating address, allow it with the sysctl net.ipv%s.ip_nonlocal_bind)", settingName(l.path), l.addr, ip, ipVersion(ip)), l.path...)
		} else if err != nil {
			v.add(fmt.Sprintf("%s %s: whether %s can be listened on could not be checked: %v", settingName(l.path), l.addr, ip, err), l.path...)
		}
	}
	return violations(c.File, c.doc, v.out)
}

// SourceAddressesNotHere refuses, at its line, an outbound source
// address (server.source_address, a send connector's source_address)
// that is not an address of this machine: no outbound connection could
// be bound to it, and serve would fail on it with neither file nor line.
// It is the check ListenersNotHere makes of a listener, run where that
// one runs (config check, serve, SIGHUP), with the same exception for a
// system that binds addresses it does not have. An address that is not
// one (refused by Load) is left to Load's error.
func (c *Config) SourceAddressesNotHere() error {
	if c.doc == nil {
		return nil
	}
	var v validator
	check := func(a string, path ...any) {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return // reported at its line by Load
		}
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return
		}
		if err := CanBind(ip); errors.Is(err, ErrNotLocal) { // localaddr.go
			v.add(fmt.Sprintf("%s %s is not an address of this machine, so no outbound connection can be bound to it "+
				"(for a floating address, allow it with the sysctl net.ipv%s.ip_nonlocal_bind)", settingName(path), a, ipVersion(ip)), path...)
		} else if err != nil {
			v.add(fmt.Sprintf("%s %s: whether an outbound connection can be bound to it could not be checked: %v", settingName(path), a, err), path...)
		}
	}
	if a := c.Server.SourceAddress; a != "" {
		check(a, "server", "source_address")
	}
	for i, sc := range c.SendConnectors {
		if sc.SourceAddress != "" {
			check(sc.SourceAddress, "send_connectors", i, "source_address")
		}
	}
	return violations(c.File, c.doc, v.out)
}

func ipVersion(ip netip.Addr) string {
	if ip.Is4() {
		return "4"
	}
	return "6"
}

// listenersCollide: binding a and b (host:port) in one process fails.
// Host names other than localhost (mailaddr.IsLocalhost) are compared
// as written.
func listenersCollide(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return false // reported at its line
	}
	na, err1 := strconv.Atoi(pa)
	nb, err2 := strconv.Atoi(pb)
	if err1 != nil || err2 != nil || na != nb || na == 0 {
		return false
	}
	ipa, oka := listenIP(ha)
	ipb, okb := listenIP(hb)
	if !oka || !okb {
		return strings.EqualFold(ha, hb)
	}
	return !ipa.IsValid() || !ipb.IsValid() || ipa == ipb
}

// listenIP is the address a listen host stands for: invalid (the zero
// Addr) for a wildcard, ok false for a host name that is not localhost.
func listenIP(h string) (netip.Addr, bool) {
	if h == "" {
		return netip.Addr{}, true
	}
	if mailaddr.IsLocalhost(h) { // LOCALHOST and localhost. too (OPS-43 item 4)
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() {
		return netip.Addr{}, true
	}
	return ip, true
}

// maxSocketPath is the longest path a unix socket address holds on
// Linux (sun_path is 108 bytes with its terminating NUL).
const maxSocketPath = 107

// validatePaths refuses what serve would fail on after it began to
// create things: a directory it writes in that names an existing file
// that is not a directory, a path it writes (a directory it makes, the
// tracking log, the admin socket) with a file that is not a directory
// anywhere on its way — its own directory or any further up, which its
// mkdir would meet — and an admin socket path too long to bind (rt22
// F1). The places are every one serve writes (writtenPlaces): one place
// added there is walked as the others. A place derived from data_dir
// (the default admin socket, admin.sock in it) is blamed on data_dir's
// line.
func validatePaths(v *validator, c *Config, written func(path ...string) bool) {
	for _, d := range writtenPlaces(c, written) {
		if d.name == "" {
			continue
		}
		if leadsNowhere(d.name) {
			if d.dir { // fileViolations says it of a file
				v.add(d.shown+linkNowhere, d.at...)
			}
			continue
		}
		fi, err := os.Stat(d.name)
		if err == nil && d.dir && !fi.IsDir() {
			v.add(fmt.Sprintf("%s is not a directory (%s)", d.shown, fileKind(fi.Mode())), d.at...)
		}
		if err == nil {
			continue
		}
		// Not there yet: serve creates it, under its nearest existing
		// parent, which must be a directory (a symbolic link that leads
		// nowhere makes the creation fail with "file exists"); a name
		// under a file fails with ENOTDIR, and the walk goes on up to
		// that file.
		for p := filepath.Dir(d.name); p != filepath.Dir(p); p = filepath.Dir(p) {
			if leadsNowhere(p) {
				v.add(fmt.Sprintf("%s: %s%s", d.shown, p, linkNowhere), d.at...)
				break
			}
			if fi, err := os.Stat(p); err == nil {
				if !fi.IsDir() {
					v.add(fmt.Sprintf("%s: %s is not a directory (%s)", d.shown, p, fileKind(fi.Mode())), d.at...)
				}
				break
			}
		}
	}
	// The spool directory serve makes in an existing data directory: the
	// queue refuses one that is not a directory, a symbolic link too (it
	// does not follow it), after the database is opened.
	if fi, err := os.Stat(c.Server.DataDir); err == nil && fi.IsDir() {
		spool := filepath.Join(c.Server.DataDir, "spool")
		if fi, err := os.Lstat(spool); err == nil && !fi.IsDir() {
			v.add(fmt.Sprintf("server.data_dir %s: its spool directory %s is not a directory (%s); umbra does not follow it: move it aside",
				c.Server.DataDir, spool, fileKind(fi.Mode())), "server", "data_dir")
		}
	}
	s := c.Server.AdminSocket
	path := []any{"server", "admin_socket"}
	what := ""
	if !written("server", "admin_socket") {
		path = []any{"server", "data_dir"}
		what = fmt.Sprintf(" (%s in server.data_dir)", filepath.Base(s))
	}
	if len(s) > maxSocketPath {
		v.add(fmt.Sprintf("server.admin_socket %s is %d bytes long%s; a unix socket path holds at most %d: choose a shorter path",
			s, len(s), what, maxSocketPath), path...)
	}
	// serve removes a stale socket at the path before it listens: never
	// a file that is something else (a configuration file named by
	// mistake); the directories on its way are walked above.
	if fi, err := os.Lstat(s); err == nil && fi.Mode()&os.ModeSocket == 0 {
		v.add(fmt.Sprintf("server.admin_socket %s%s exists and is not a socket (%s)", s, what, fileKind(fi.Mode())), path...)
	}
	if l, ok := strings.CutPrefix(c.Mailbox.LMTP, "unix:"); ok && len(l) > maxSocketPath {
		v.add(fmt.Sprintf("mailbox.lmtp %s is %d bytes long; a unix socket path holds at most %d: every delivery would fail",
			l, len(l), maxSocketPath), "mailbox", "lmtp")
	}
}

// writtenPlace is a path serve writes: a directory it makes and writes
// files in (dir), or a file it makes (the tracking log, the admin
// socket), as an error names it (shown) and where the error goes (at).
type writtenPlace struct {
	name, shown string
	dir         bool
	at          []any
}

// writtenPlaces are the paths serve writes, each walked by
// validatePaths: the data directory, the Maildir tree, the pickup
// directory, the tracking log and the admin socket (the spool directory
// serve makes in data_dir is checked on its own, in an existing one). An
// admin socket in data_dir itself, and a tracking log there the file
// does not write (the defaults), are checked with data_dir, not again.
func writtenPlaces(c *Config, written func(path ...string) bool) []writtenPlace {
	dataDir := []any{"server", "data_dir"}
	out := []writtenPlace{{c.Server.DataDir, "server.data_dir " + c.Server.DataDir, true, dataDir}}
	out = append(out,
		writtenPlace{c.Mailbox.Maildir, "mailbox.maildir " + c.Mailbox.Maildir, true, []any{"mailbox", "maildir"}},
		writtenPlace{c.Pickup.Directory, "pickup.directory " + c.Pickup.Directory, true, []any{"pickup", "directory"}})
	if c.Tracking.Enabled && c.Tracking.Path != "" && (written("tracking", "path") || filepath.Dir(c.Tracking.Path) != c.Server.DataDir) {
		out = append(out, writtenPlace{c.Tracking.Path, "tracking.path " + c.Tracking.Path, false, []any{"tracking", "path"}})
	}
	if s := c.Server.AdminSocket; s != "" && filepath.Dir(s) != c.Server.DataDir {
		at, shown := []any{"server", "admin_socket"}, "server.admin_socket "+s
		if !written("server", "admin_socket") {
			at, shown = dataDir, shown+" ("+filepath.Base(s)+" in server.data_dir)"
		}
		out = append(out, writtenPlace{s, shown, false, at})
	}
	return out
}

func fileKind(m os.FileMode) string {
	if m.IsRegular() {
		return "a regular file"
	}
	if m&os.ModeSymlink != 0 {
		return "a symbolic link"
	}
	return fileType(m)
}

// BindingsOfOtherServers refuses, at its line, a receive connector
// binding that listens on the topology address of another server t
// names: a binding copied from that server's file. This server would
// answer for it on one machine (or fail to start beside it), and the
// peers' heartbeats and shadow sessions for it would reach this server,
// which would take its own database for the other's (rt21 F6). A binding
// on that IP and port is refused; a wildcard one only where that address
// is on this machine (listensOn, as CheckTopologyServer checks the
// server's own address). Nothing is compared behind address translation.
func (c *Config) BindingsOfOtherServers(t *Topology) error {
	if t == nil || c.Server.AddressTranslated || c.doc == nil {
		return nil
	}
	var v validator
	for i, rc := range c.ReceiveConnectors {
		for j, b := range rc.Bindings {
			for _, s := range t.Servers {
				if mailaddr.NameKey(s.Name) == mailaddr.NameKey(c.Server.Name) {
					// This server, its name perhaps spelled otherwise
					// there: that spelling is its own error
					// (CheckTopologyServer), its address this one's (rt34 O3).
					continue
				}
				if _, err := netip.ParseAddrPort(s.Address); err != nil {
					continue // by host name: not resolved here
				}
				host, _, err := net.SplitHostPort(b)
				if err != nil {
					break // reported at its line
				}
				if _, err := netip.ParseAddr(host); err != nil && host != "" {
					continue // a binding by name: not resolved here
				}
				if listensOn(s.Address, []string{b}) {
					v.add(fmt.Sprintf("binding %s listens on the topology address of server %q (%s in %s): this server would answer for it, "+
						"and the peers' heartbeats and shadow sessions for %s would reach this one; bind only this server's own addresses",
						b, s.Name, s.Address, t.File, s.Name), "receive_connectors", i, "bindings", j)
					break
				}
			}
		}
	}
	return violations(c.File, c.doc, v.out)
}
