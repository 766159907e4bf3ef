package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver/dnstest"
	"umbra/internal/tlspolicy"
	"umbra/internal/tracking"
)

// umbra tls report shows today's pending report of a policy domain as
// the daemon would send it (counts, rua, JSON), and refuses to send a
// day that is not over.
func TestCLITLSReport(t *testing.T) {
	dns := dnstest.Start(t, `_smtp._tls.dest.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:reports@rpt.test"`)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	storeTLSResults(t, data, time.Now())
	listen := freeAddr(t, "127.0.0.122")
	cfgPath := tlsrptHub(t, dir, listen, dns.Addr, "", "", "")
	startUmbra(t, cfgPath, listen)
	today := time.Now().UTC().Format(time.DateOnly)
	out, code := cli(t, cfgPath, "tls", "report")
	if code != 0 || !strings.Contains(out, today+" dest.test — to reports@rpt.test") || !strings.Contains(out, "sts: 1 successful, 1 failed sessions") ||
		!strings.Contains(out, "certificate-expired mx1.dest.test: 1") {
		t.Fatalf("tls report (exit %d):\n%s", code, out)
	}
	out, code = cli(t, cfgPath, "--json", "tls", "report", "--date", today)
	var ps []tlspolicy.PendingReport
	if code != 0 || json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 1 || ps[0].Report.Policies[0].Summary.Failure != 1 {
		t.Fatalf("tls report --json (exit %d):\n%s", code, out)
	}
	if out, code := cli(t, cfgPath, "tls", "report", "--send"); code == 0 {
		t.Fatalf("today's report sent before the day is over:\n%s", out)
	}
	if out, code := cli(t, cfgPath, "tls", "report", "--date", "yesterday"); code == 0 {
		t.Fatalf("a malformed date accepted:\n%s", out)
	}
	if out, _ := cli(t, cfgPath, "tls", "report"); !strings.Contains(out, "dest.test") {
		t.Fatalf("the refused send lost the counts:\n%s", out)
	}
	// OPS-5 (rr-opsrt38 F3): the refused send is audited as a refusal,
	// "refused: " and its words.
	var es []tracking.Entry
	waitCond(t, "the refused send's audit line", 10*time.Second, func() bool {
		out, code := cli(t, cfgPath, "track", "--json", "--event", "admin", "--since", "1h")
		es = nil
		return code == 0 && json.Unmarshal([]byte(out), &es) == nil && len(es) > 0
	})
	if e := es[0]; e.Action != "tls report send "+today || !strings.HasPrefix(e.Reply, "refused: ") || !strings.Contains(e.Reply, "is not over") {
		t.Errorf("the refused send audited %q: %q, want tls report send %s: refused: … is not over …", e.Action, e.Reply, today)
	}
	// A day with nothing pending is named (rr-opsrt38), the default
	// day too: "that day" says not which.
	if out, code := cli(t, cfgPath, "tls", "report", "--date", "2020-01-01"); code != 0 || !strings.Contains(out, "no TLS report pending for 2020-01-01") {
		t.Errorf("tls report of a day with none (exit %d): %q, want no TLS report pending for 2020-01-01", code, out)
	}
}
