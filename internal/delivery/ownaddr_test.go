package delivery

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// OPS-1 (rt23c F3): a wildcard binding's self detection knows this
// machine's own addresses without netlink, which the systemd units
// refuse: in a process whose socket(AF_NETLINK) fails (the child, run
// under ../config/testdata/nonetlink.py), an address of this machine on
// the bound port is this server, another address is not. Before, the
// interface list read empty there and no address was this server's.
func TestOwnBindingWithoutNetlink(t *testing.T) {
	if own := os.Getenv("UMBRA_NONETLINK_CHILD"); own != "" {
		if _, err := net.InterfaceAddrs(); err == nil {
			t.Fatal("netlink is not refused in this child: the test would prove nothing")
		}
		bindings := []string{"0.0.0.0:25"}
		if !ownBinding(bindings, net.JoinHostPort(own, "25")) {
			t.Errorf("%s:25 behind 0.0.0.0:25 is not taken for this server", own)
		}
		if ownBinding(bindings, "192.0.2.55:25") {
			t.Error("192.0.2.55:25, not this machine's, is taken for this server")
		}
		return
	}
	as, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("interface addresses: %v", err)
	}
	var own netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			own = p.Addr()
			break
		}
	}
	if !own.IsValid() {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to run the child under seccomp")
	}
	cmd := exec.Command(py, "../config/testdata/nonetlink.py", os.Args[0], "-test.run=^TestOwnBindingWithoutNetlink$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "UMBRA_NONETLINK_CHILD="+own.String())
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "seccomp failed") || strings.Contains(string(out), "no_new_privs failed") {
		t.Skipf("seccomp not available: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child without netlink: %v\n%s", err, out)
	}
}
