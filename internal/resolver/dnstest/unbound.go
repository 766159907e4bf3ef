package dnstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// UnboundPath is where the Debian package installs unbound.
const UnboundPath = "/usr/sbin/unbound"

// StartUnbound runs a real unbound on ip as a validating resolver for
// zone: it asks the signed zone's server (stub) and validates with the
// zone's KSK as trust anchor, so its AD bit is DNSSEC's verdict. Without
// the binary the test is skipped, unless CI is set (then it fails). It
// stops in t.Cleanup and returns its host:port.
func StartUnbound(t testing.TB, ip string, z *SignedZone) string {
	t.Helper()
	if _, err := os.Stat(UnboundPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("unbound is required in CI: %v", err)
		}
		t.Skipf("unbound not installed (%v)", err)
	}
	dir := t.TempDir()
	port := freeUDPPort(t, ip)
	zhost, zport, _ := net.SplitHostPort(z.Addr)
	anchor := filepath.Join(dir, "anchor.key")
	if err := os.WriteFile(anchor, []byte(z.TrustAnchor()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
	interface: %s
	port: %d
	access-control: 127.0.0.0/8 allow
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: ""
	use-syslog: no
	logfile: %q
	verbosity: 1
	do-ip6: no
	do-not-query-localhost: no
	qname-minimisation: no
	harden-referral-path: no
	module-config: "validator iterator"
	trust-anchor-file: %q
	val-log-level: 2
	cache-max-ttl: 1
	cache-max-negative-ttl: 1
	msg-cache-size: 1m
	rrset-cache-size: 1m
	num-threads: 1
	outgoing-range: 64
	so-reuseport: no
	root-hints: ""
	local-zone: %q nodefault
remote-control:
	control-enable: no
stub-zone:
	name: %q
	stub-addr: %s@%s
`, ip, port, dir, filepath.Join(dir, "unbound.log"), anchor, tld(z.Zone), z.Zone, zhost, zport)
	cf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(UnboundPath, "-d", "-c", cf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(z.Zone, dns.TypeSOA)
	q.SetEdns0(1232, true)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, _, err := c.ExchangeContext(ctx, q, addr)
		cancel()
		if err == nil && r.Rcode == dns.RcodeSuccess {
			if !r.AuthenticatedData {
				log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
				t.Fatalf("unbound answers for %s without AD: the zone does not validate\n%s", z.Zone, lastLines(string(log), 30))
			}
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
	t.Fatalf("unbound did not answer on %s\n%s", addr, lastLines(string(log), 30))
	return ""
}

func freeUDPPort(t testing.TB, ip string) int {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// tld is the last label of zone: unbound serves some (test., invalid.,
// …) itself by default (RFC 6761), which would hide the test zone.
func tld(zone string) string {
	l := dns.SplitDomainName(zone)
	return l[len(l)-1] + "."
}
