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
// Host names other than localhost are compared as written.
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
	if strings.EqualFold(h, "localhost") {
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
// create things: a directory setting that names an existing file that is
// not a directory, or a directory serve would create under a file, and
// an admin socket path too long to bind (rt22 F1).
// A relative admin socket (the default, admin.sock) lies in data_dir:
// when the operator did not write admin_socket, data_dir is blamed.
func validatePaths(v *validator, c *Config, written func(path ...string) bool) {
	type place struct {
		dir  string
		path []any
		file bool // the tracking log: a file serve creates, in a directory it creates
	}
	places := []place{
		{c.Server.DataDir, []any{"server", "data_dir"}, false},
		{c.Mailbox.Maildir, []any{"mailbox", "maildir"}, false},
		{c.Pickup.Directory, []any{"pickup", "directory"}, false},
	}
	if c.Tracking.Enabled && written("tracking", "path") { // else in data_dir: checked with it
		places = append(places, place{c.Tracking.Path, []any{"tracking", "path"}, true})
	}
	for _, d := range places {
		if d.dir == "" {
			continue
		}
		if leadsNowhere(d.dir) {
			if !d.file { // fileViolations says it of a file
				v.add(settingName(d.path)+" "+d.dir+linkNowhere, d.path...)
			}
			continue
		}
		fi, err := os.Stat(d.dir)
		if err == nil && !d.file && !fi.IsDir() {
			v.add(fmt.Sprintf("%s %s is not a directory (%s)", settingName(d.path), d.dir, fileKind(fi.Mode())), d.path...)
		}
		if err == nil {
			continue
		}
		// Not there yet: serve creates it, under its nearest existing
		// parent, which must be a directory (a symbolic link that leads
		// nowhere makes the creation fail with "file exists").
		for p := filepath.Dir(d.dir); p != filepath.Dir(p); p = filepath.Dir(p) {
			if leadsNowhere(p) {
				v.add(fmt.Sprintf("%s %s: %s%s", settingName(d.path), d.dir, p, linkNowhere), d.path...)
				break
			}
			if fi, err := os.Stat(p); err == nil {
				if !fi.IsDir() {
					v.add(fmt.Sprintf("%s %s: %s is not a directory (%s)", settingName(d.path), d.dir, p, fileKind(fi.Mode())), d.path...)
				}
				break
			}
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
	// mistake), and the directory it creates must not be a file.
	if fi, err := os.Lstat(s); err == nil && fi.Mode()&os.ModeSocket == 0 {
		v.add(fmt.Sprintf("server.admin_socket %s%s exists and is not a socket (%s)", s, what, fileKind(fi.Mode())), path...)
	} else if fi, err := os.Stat(filepath.Dir(s)); err == nil && !fi.IsDir() && filepath.Dir(s) != c.Server.DataDir {
		v.add(fmt.Sprintf("server.admin_socket %s: %s is not a directory (%s)", s, filepath.Dir(s), fileKind(fi.Mode())), path...)
	}
	if l, ok := strings.CutPrefix(c.Mailbox.LMTP, "unix:"); ok && len(l) > maxSocketPath {
		v.add(fmt.Sprintf("mailbox.lmtp %s is %d bytes long; a unix socket path holds at most %d: every delivery would fail",
			l, len(l), maxSocketPath), "mailbox", "lmtp")
	}
}

func fileKind(m os.FileMode) string {
	if m.IsRegular() {
		return "a regular file"
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
				if s.Name == c.Server.Name {
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
