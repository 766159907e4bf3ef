package config

import "testing"

// A smart host is HOST[:PORT] as queue redirect --to reads it
// (mailaddr.SplitHostPort): a bracketed IPv6 address with or without a
// port is taken, as a bare one is (rt18c-F8).
func TestSmartHostIPv6Forms(t *testing.T) {
	for _, sh := range []string{`"[::1]"`, `"[::1]:2525"`, `"::1"`} {
		_, err := Parse([]byte(`server:
  name: a.test
receive_connectors:
  - name: d
    bindings: ["127.0.0.1:2525"]
send_connectors:
  - name: s
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [`+sh+`]
`), "sh.yaml")
		if err != nil {
			t.Errorf("smart host %s: %v", sh, err)
		}
	}
	if SmartHostNames("[::1]", 25, "a.test", "[::1]:25") != 1 {
		t.Error("smart host [::1] does not name the server at [::1]:25")
	}
}
