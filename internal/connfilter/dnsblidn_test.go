package connfilter_test

import (
	"strings"
	"testing"
)

// A list's zone written as a U-label, in capitals, with a final dot is
// asked, named in the reply and counted as its A-label in lower case,
// the only form DNS holds it in; one written in both forms is one list
// (config refuses it twice).
func TestDNSBLInternationalisedZone(t *testing.T) {
	e := start(t, `    connection_filtering:
      dnsbl:
        lists:
          - zone: "Blöck.Test."
`, "2.0.0.127.xn--blck-6qa.test. 300 IN A 127.0.0.2")
	got := e.dial("127.0.0.2").cmd("EHLO client.test", "554 5.7.1")
	if !strings.Contains(got, "blocked using xn--blck-6qa.test") {
		t.Fatalf("reply %q\n%s", got, e.log)
	}
	e.dial("127.0.0.3").cmd("EHLO client.test", "250")
	if v := counter(t, e.reg, "umbra_dnsbl_lookups_total", map[string]string{"zone": "xn--blck-6qa.test", "result": "listed"}); v != 1 {
		t.Fatalf("listed lookups of the A-label zone %v, want 1", v)
	}
}
