package connfilter_test

import (
	"strings"
	"testing"

	"umbra/internal/config"
)

// OPS-2 (front48 item 4): the series of umbra_dnsbl_lookups_total of a
// DNS list a reload removed are deleted with it (Metrics.KeepLists,
// called as the reload is applied), not exported for the process's
// life; those of a list the reload keeps stay.
func TestDNSBLRemovedZoneSeriesDeleted(t *testing.T) {
	two := strings.Replace(zen, "        lists:\n", "        lists:\n          - zone: other.test\n", 1)
	e := start(t, two, "2.0.0.127.zen.test. 60 IN A 127.0.0.2")
	e.dial("127.0.0.3").cmd("EHLO c.test", "250")
	lookups := func(zone, result string) float64 {
		return counter(t, e.reg, "umbra_dnsbl_lookups_total", map[string]string{"zone": zone, "result": result})
	}
	if lookups("zen.test", "clear") != 1 || lookups("other.test", "clear") != 1 {
		t.Fatalf("lookups before the reload: zen %v, other %v, want 1 each", lookups("zen.test", "clear"), lookups("other.test", "clear"))
	}
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:0\"]\n    permissions: {anonymous: [submit]}\n"+zen), "reload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.met.KeepLists(c.ReceiveConnectors) // the reload removes other.test
	if n := lookups("other.test", "clear"); n != 0 {
		t.Errorf("the removed list's series still exported (%v)", n)
	}
	if n := lookups("zen.test", "clear"); n != 1 {
		t.Errorf("the kept list's series: %v, want 1", n)
	}
	// A connection still asking with the checks built before the reload:
	// its lookup of the removed list brings no series back.
	e.dial("127.0.0.3").cmd("EHLO c.test", "250")
	if n := lookups("other.test", "clear"); n != 0 {
		t.Errorf("a late lookup of the removed list brought its series back (%v)", n)
	}
	if n := lookups("zen.test", "clear"); n != 2 {
		t.Errorf("the kept list's series after a second lookup: %v, want 2", n)
	}
}

// OPS-2 (front48 item 4): a DNS list a reload adds is counted from its
// first lookup. The reload builds the checks that ask it before
// Metrics.KeepLists hears of the new configuration; a lookup in between
// is no late lookup of a removed list, and its series is exported as
// any other's.
func TestDNSBLAddedZoneCountedBeforeKeepLists(t *testing.T) {
	two := strings.Replace(zen, "        lists:\n", "        lists:\n          - zone: other.test\n", 1)
	e := start(t, two, "2.0.0.127.zen.test. 60 IN A 127.0.0.2")
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:0\"]\n    permissions: {anonymous: [submit]}\n"+zen), "running.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.met.KeepLists(c.ReceiveConnectors)          // the configuration before the reload: zen.test only
	e.dial("127.0.0.3").cmd("EHLO c.test", "250") // the reloaded checks ask other.test too
	if n := counter(t, e.reg, "umbra_dnsbl_lookups_total", map[string]string{"zone": "other.test", "result": "clear"}); n != 1 {
		t.Errorf("the added list's lookup counted %v times, want 1", n)
	}
}

// OPS-2 (words49 item 3): the series of umbra_dnsbl_verdicts_total of a
// connector a reload removed (or whose DNS lists it removed) are
// deleted at the reload (Metrics.KeepLists), as a removed zone's
// lookups are — not exported for the process's life; a verdict of a
// connection accepted before the reload, ending late, brings none back;
// a connector kept keeps its series. Seen to fail first: the removed
// connector's reject series was still exported after KeepLists.
func TestDNSBLRemovedConnectorVerdictSeriesDeleted(t *testing.T) {
	e := start(t, zen, "2.0.0.127.zen.test. 60 IN A 127.0.0.2")
	e.dial("127.0.0.2").cmd("EHLO c.test", "554 5.7.1")
	verdicts := func(connector string) float64 {
		return counter(t, e.reg, "umbra_dnsbl_verdicts_total", map[string]string{"connector": connector, "action": "reject"})
	}
	if n := verdicts("internet"); n != 1 {
		t.Fatalf("reject verdicts before the reload: %v, want 1", n)
	}
	renamed, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: edge\n    bindings: [\"127.0.0.1:0\"]\n    permissions: {anonymous: [submit]}\n"+zen), "reload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.met.KeepLists(renamed.ReceiveConnectors) // the reload removes the connector "internet"
	if n := verdicts("internet"); n != 0 {
		t.Errorf("the removed connector's verdict series still exported (%v)", n)
	}
	// A connection accepted before the reload, its checks built for
	// "internet": its verdict brings no series back.
	e.dial("127.0.0.2").cmd("EHLO c.test", "554 5.7.1")
	if n := verdicts("internet"); n != 0 {
		t.Errorf("a late verdict of the removed connector brought its series back (%v)", n)
	}
	// The configuration that keeps it: counted again.
	kept, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:0\"]\n    permissions: {anonymous: [submit]}\n"+zen), "kept.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.met.KeepLists(kept.ReceiveConnectors)
	e.dial("127.0.0.2").cmd("EHLO c.test", "554 5.7.1")
	if n := verdicts("internet"); n != 1 {
		t.Errorf("the connector put back: %v verdicts, want 1", n)
	}
}
