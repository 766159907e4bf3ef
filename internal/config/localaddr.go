package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Whether an address is this machine's, asked without netlink (rt23c F3).
//
// net.InterfaceAddrs reads the interfaces over a netlink socket, which
// the shipped systemd units do not allow (RestrictAddressFamilies=
// AF_INET AF_INET6 AF_UNIX): inside the unit it failed, and every
// address read as not this machine's — a valid source_address or
// listener refused, with a sysctl hint the unit cannot read either
// (ProcSubset=pid hides /proc/sys). The kernel answers both questions
// through the sockets the unit allows:
//
//   - CanBind binds a UDP socket to the address (port 0): what a
//     listener or an outbound connection's bind will meet, the system's
//     ip_nonlocal_bind included. EADDRNOTAVAIL: not an address here.
//   - LocalAddr connects a UDP socket to the address (no packet is
//     sent) and reads the source the kernel chose: for an address of
//     this machine the route is a local one, whose source is the
//     address itself. It is true of the machine's own addresses only,
//     whatever ip_nonlocal_bind says (self and loop detection).
//
// Any other failure is returned as it is, for the caller to report: it
// is never read as "not this machine's".

// ErrNotLocal is CanBind's answer for an address this machine neither
// has nor binds (EADDRNOTAVAIL).
var ErrNotLocal = errors.New("not an address of this machine")

// CanBind is nil when a socket can be bound to ip here, ErrNotLocal
// (wrapping the system's error) when ip is not an address of this
// machine, else the system's error.
func CanBind(ip netip.Addr) error {
	c, err := net.ListenPacket("udp", netip.AddrPortFrom(ip, 0).String())
	if err == nil {
		c.Close()
		return nil
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("%w (%w)", ErrNotLocal, err)
	}
	return err
}

// LocalAddr says whether ip is an address of this machine (see above);
// an error when the kernel could not be asked.
func LocalAddr(ip netip.Addr) (bool, error) {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true, nil
	}
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
		return false, nil
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 9)))
	if err != nil {
		if errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) {
			return false, nil // no route (or a broadcast address): not here
		}
		return false, err
	}
	defer c.Close()
	src := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return src.WithZone("") == ip.WithZone(""), nil
}
