package config

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// ownAddress is a non-loopback address of this machine's, read the
// ordinary way (netlink), or the test is skipped.
func ownAddress(t *testing.T) netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("interface addresses: %v", err)
	}
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return netip.Addr{}
}

// OPS-1 (rt23c F3): the checks run by config check, serve and SIGHUP —
// and by the systemd units' ExecStartPre — tell this machine's addresses
// from others without netlink, which the units refuse
// (RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX): in a process whose
// socket(AF_NETLINK) fails, a source_address and a listener on an
// address of this machine pass, and an address it does not have is
// still refused. The child runs under testdata/nonetlink.py (seccomp).
func TestLocalAddressesWithoutNetlink(t *testing.T) {
	if os.Getenv("UMBRA_NONETLINK_CHILD") != "" {
		if _, err := net.InterfaceAddrs(); err == nil {
			t.Fatal("netlink is not refused in this child: the test would prove nothing")
		}
		own := netip.MustParseAddr(os.Getenv("UMBRA_NONETLINK_CHILD"))
		yaml := "server:\n  name: mx.a.test\n  source_address: " + own.String() + "\n" +
			"receive_connectors:\n  - {name: in, bindings: [\"" + own.String() + ":25\"]}\n" +
			"send_connectors:\n  - {name: s, address_spaces: [{domain: \"*\", cost: 1}], smart_hosts: [relay.a.test], source_address: 192.0.2.55}\n"
		c, err := Parse([]byte(yaml), "n.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ListenersNotHere(); err != nil {
			t.Errorf("a listener on %s, an address of this machine: %v", own, err)
		}
		err = c.SourceAddressesNotHere()
		if CanBind(netip.MustParseAddr("192.0.2.55")) == nil {
			return // this machine binds addresses it does not have
		}
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != 7 || !strings.Contains(es[0].Msg, "192.0.2.55 is not an address of this machine") {
			t.Errorf("want only 192.0.2.55 refused, at n.yaml:7; got\n%v", err)
		}
		if ok, err := LocalAddr(own); !ok || err != nil {
			t.Errorf("LocalAddr(%s) = %v, %v; want true", own, ok, err)
		}
		if ok, err := LocalAddr(netip.MustParseAddr("192.0.2.55")); ok || err != nil {
			t.Errorf("LocalAddr(192.0.2.55) = %v, %v; want false", ok, err)
		}
		return
	}
	own := ownAddress(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to run the child under seccomp")
	}
	cmd := exec.Command(py, "testdata/nonetlink.py", os.Args[0], "-test.run=^TestLocalAddressesWithoutNetlink$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "UMBRA_NONETLINK_CHILD="+own.String())
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "seccomp failed") || strings.Contains(string(out), "no_new_privs failed") {
		t.Skipf("seccomp not available: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child without netlink: %v\n%s", err, out)
	}
}

// LocalAddr is true of this machine's addresses and loopback, false of
// others, whatever ip_nonlocal_bind says (self and loop detection).
func TestLocalAddr(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{{"127.0.0.1", true}, {"127.0.0.186", true}, {"::1", true}, {"192.0.2.55", false}, {"0.0.0.0", false}} {
		if got, err := LocalAddr(netip.MustParseAddr(tc.ip)); got != tc.want || err != nil {
			t.Errorf("LocalAddr(%s) = %v, %v; want %v", tc.ip, got, err, tc.want)
		}
	}
	own := ownAddress(t)
	if got, err := LocalAddr(own); !got || err != nil {
		t.Errorf("LocalAddr(%s) (an interface's) = %v, %v; want true", own, got, err)
	}
}
