package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fetchPolicyStatus asks the MTA-STS publisher at addr for host's
// policy and returns the status.
func fetchPolicyStatus(t *testing.T, addr, host string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + host + "/.well-known/mta-sts.txt")
	if err != nil {
		t.Fatalf("fetch %s: %v", host, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// An edge's accepted domains are internal_relay (it holds no mailbox
// store; the hubs hold the mailboxes), and it is the server the
// domain's mta-sts.<domain> names. outbound_tls.mta_sts_publish on it
// serves the policy of its internal_relay domains, as of authoritative
// ones; never of an external_relay domain, another organisation's
// (rt42-edge F1: an edge published nothing, every fetch 404, config
// check silent). A configuration that would publish for no domain is
// warned about at the setting's listen line.
func TestMTASTSPublishOnEdgeServesInternalRelayDomains(t *testing.T) {
	dir := t.TempDir()
	listen, pubAddr := "127.0.0.137:8010", "127.0.0.137:8011"
	cfg := relayConfig(t, dir, listen, "127.0.0.137:8012")
	certFile, keyFile := writeCertFiles(t, dir, certNaming(t, "mta-sts.example.test", "mta-sts.partner.test"))
	base, _ := os.ReadFile(cfg)
	text := strings.Replace(string(base), "    type: authoritative\n", "    type: internal_relay\n", 1)
	text = strings.Replace(text, "accepted_domains:\n", "accepted_domains:\n  - domain: partner.test\n    type: external_relay\n    recipient_validation: off\n", 1)
	text = strings.Replace(text, "mailbox:\n  maildir: maildir\n", "", 1)
	// The connector to the hubs carries the organisation's id (else
	// config check warns: rt45 front F1).
	text = strings.Replace(text, "    tls: none\n", "    tls: none\n    send_xshadow: true\n", 1)
	text += "outbound_tls:\n  mta_sts_publish:\n    listen: " + pubAddr + "\n    cert_file: " + certFile + "\n    key_file: " + keyFile +
		"\n    mx: [mx.example.test, hub.e2e.test]\n" // server.name listed: no warning (OPS-43 item 3)
	os.WriteFile(cfg, []byte(text), 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("config check: %v, want ok without warnings\n%s", err, out)
	}
	d := startUmbra(t, cfg, listen)
	waitCond(t, "the publisher", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "publishing the MTA-STS policy")
	})
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "domains=[example.test]") {
		t.Fatalf("start log: want domains=[example.test]\n%s", b)
	}
	if code := fetchPolicyStatus(t, pubAddr, "mta-sts.example.test"); code != 200 {
		t.Errorf("internal_relay domain's policy: %d, want 200", code)
	}
	if code := fetchPolicyStatus(t, pubAddr, "mta-sts.partner.test"); code != 404 {
		t.Errorf("external_relay domain's policy: %d, want 404", code)
	}

	// Only an external_relay domain: nothing to publish, warned at listen's line.
	nothing := strings.Replace(text, "    type: internal_relay\n", "    type: external_relay\n", 1)
	os.WriteFile(cfg, []byte(nothing), 0o600)
	// The file alone (--offline): the running edge's reload would refuse
	// it (its postmaster's domain goes), which is another check's matter.
	out, err = exec.CommandContext(ctx, umbraBin, "config", "check", "--offline", cfg).CombinedOutput()
	line := 1 + strings.Count(nothing[:strings.Index(nothing, "    listen: "+pubAddr)], "\n")
	want := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + strconv.Itoa(line) + `: warning: outbound_tls\.mta_sts_publish publishes the policy of no domain`)
	if err != nil || !want.Match(out) {
		t.Fatalf("config check: %v, want ok and %q\n%s", err, want, out)
	}
}
