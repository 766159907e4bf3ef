package signing

import (
	"context"
	"crypto"
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

// The opendkim interop test runs Debian's opendkim-testmsg (libopendkim,
// an independent DKIM implementation) over messages umbra signed. The
// tool has no option for a key file when verifying: it asks DNS through
// /etc/resolv.conf. So the test runs it in a mount and network namespace
// of its own (unshare -mn; as a user, also a user namespace: -rmn) where /etc/resolv.conf names
// 127.0.0.1 and this test binary, started again in the namespace as a
// DNS server (UMBRA_SIGNING_DNS_HELPER), serves the keys' TXT records on
// port 53. Nothing leaves the namespace: the system's DNS is not asked.

const dnsHelperEnv = "UMBRA_SIGNING_DNS_HELPER"

func TestMain(m *testing.M) {
	if zone := os.Getenv(dnsHelperEnv); zone != "" {
		os.Exit(serveDNSHelper(zone, os.Getenv(dnsHelperEnv+"_READY")))
	}
	os.Exit(m.Run())
}

// serveDNSHelper answers queries for the zone-file lines in file on
// 127.0.0.1:53 (UDP and TCP) for at most two minutes, touching ready
// once both listen.
func serveDNSHelper(file, ready string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rrs []dns.RR
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		rrs = append(rrs, rr)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		r.Authoritative = true
		r.Rcode = dns.RcodeNameError
		for _, qq := range q.Question {
			for _, rr := range rrs {
				if strings.EqualFold(rr.Header().Name, qq.Name) {
					r.Rcode = dns.RcodeSuccess
					if rr.Header().Rrtype == qq.Qtype {
						r.Answer = append(r.Answer, rr)
					}
				}
			}
		}
		w.WriteMsg(r)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:53")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		go s.ActivateAndServe()
	}
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(2 * time.Minute) // the namespace's shell kills it long before
	return 0
}

// needTool returns the path of a program the interop test needs; it
// skips without it unless CI is set.
func needTool(t *testing.T, name string, dirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (.ci/run installs it)", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// opendkimVerify runs opendkim-testmsg over each message with the zone
// served, and returns its exit status and output per message name.
func opendkimVerify(t *testing.T, zoneLines []string, msgs map[string][]byte) map[string]string {
	t.Helper()
	testmsg := needTool(t, "opendkim-testmsg", "/usr/sbin")
	unshare := needTool(t, "unshare", "/usr/bin")
	ip := needTool(t, "ip", "/usr/sbin", "/sbin")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zone := write("zone", []byte(strings.Join(zoneLines, "\n")+"\n"))
	resolv := write("resolv.conf", []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"))
	ready := filepath.Join(dir, "ready")
	var script strings.Builder
	fmt.Fprintf(&script, "set -u\n%s link set lo up || exit 90\nmount --bind %s /etc/resolv.conf || exit 91\n", ip, resolv)
	fmt.Fprintf(&script, "%s=%s %s_READY=%s %s -test.run='^$' & dnspid=$!\n", dnsHelperEnv, zone, dnsHelperEnv, ready, self)
	fmt.Fprintf(&script, "i=0; while [ ! -e %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n[ -e %s ] || { kill $dnspid; exit 92; }\n", ready, ready)
	for name, m := range msgs {
		p := write(name+".eml", m)
		fmt.Fprintf(&script, "out=$(%s < %s 2>&1); echo \"result %s $? $(echo $out | tr '\\n' ' ')\"\n", testmsg, p, name)
	}
	script.WriteString("kill $dnspid; wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flags := "-rmn" // a user namespace too, where the test is not root
	if os.Geteuid() == 0 {
		flags = "-mn"
	}
	cmd := exec.CommandContext(ctx, unshare, flags, "sh", "-c", script.String())
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out)
	}
	res := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "result "); ok {
			name, status, _ := strings.Cut(rest, " ")
			res[name] = strings.TrimSpace(status)
		}
	}
	for name := range msgs {
		if _, ok := res[name]; !ok {
			t.Fatalf("no result for %s:\n%s", name, out)
		}
	}
	return res
}

// keyRecord is the zone line of a key's TXT record, strings quoted.
func keyRecord(t testing.TB, domain, selector string, k crypto.Signer) string {
	v, err := RecordValue(k)
	if err != nil {
		t.Fatal(err)
	}
	parts := SplitTXT(v)
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return RecordName(domain, selector) + " 300 IN TXT " + strings.Join(parts, " ")
}

// TestOpenDKIMVerifies: opendkim-testmsg verifies umbra's Ed25519 and
// RSA signatures, and rejects the same messages altered after signing
// (so the test can fail).
func TestOpenDKIMVerifies(t *testing.T) {
	ed := testEd25519(t)
	rk := testRSA(t)
	s, err := NewSigner(Options{Keys: []Key{
		{Domain: "ed.example.org", Selector: "ed1", Signer: ed},
		{Domain: "example.com", Selector: "rsa2048", Signer: rk},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(from string) []byte {
		msg := strings.Replace(plain, "alice@example.org", from, 1)
		out, res, err := s.Sign([]byte(msg), "")
		if err != nil || res.DKIM == "" {
			t.Fatalf("sign %s: %v %+v", from, err, res)
		}
		return out
	}
	rsaMsg, edMsg := sign("alice@example.com"), sign("alice@ed.example.org")
	msgs := map[string][]byte{
		"rsa":               rsaMsg,
		"ed25519":           edMsg,
		"rsa-body-altered":  []byte(strings.Replace(string(rsaMsg), "figures are", "figures were", 1)),
		"rsa-from-added":    append([]byte("From: mallory@evil.test\r\n"), rsaMsg...),
		"rsa-replyto-added": append([]byte("Reply-To: mallory@evil.test\r\n"), rsaMsg...),
		"ed25519-no-key":    []byte(strings.Replace(string(edMsg), "s=ed1", "s=ed9", 1)),
	}
	got := opendkimVerify(t, []string{
		keyRecord(t, "ed.example.org", "ed1", ed),
		keyRecord(t, "example.com", "rsa2048", rk),
	}, msgs)
	t.Logf("opendkim-testmsg: %v", got)
	for _, name := range []string{"rsa", "ed25519"} {
		if !strings.HasPrefix(got[name], "0") {
			t.Errorf("%s: opendkim-testmsg does not verify umbra's signature: %s", name, got[name])
		}
	}
	for _, name := range []string{"rsa-body-altered", "rsa-from-added", "rsa-replyto-added", "ed25519-no-key"} {
		if strings.HasPrefix(got[name], "0") {
			t.Errorf("%s: opendkim-testmsg accepted an altered message: %q", name, got[name])
		}
	}
}
