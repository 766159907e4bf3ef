package config

import (
	"strings"
	"testing"
)

// SMTP-4, SR-1 (rt27c F2's siblings): the unspecified address is no
// address umbra connects to, nor one a peer connects from. mailbox.lmtp
// and a milter's inet: address at 0.0.0.0 or :: (a listener's form,
// copied from the other program's listen line) are refused at their
// line, as a smart host there is; a topology server's source_addresses
// that name the unspecified address (no connection comes from it) or
// every address (0.0.0.0/0, ::/0, ::ffff:0.0.0.0/96: any host would pass
// as that server on an externally secured connector) are refused at
// theirs.
func TestSMTP4UnspecifiedAddressesRefused(t *testing.T) {
	base := "server: {name: a.example.test}\naccepted_domains: [{domain: a.test, type: authoritative, recipient_validation: \"off\"}]\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	for line, want := range map[string]string{
		"mailbox: {lmtp: \"0.0.0.0:24\"}": `c.yaml:6: mailbox.lmtp "0.0.0.0:24": the host is the unspecified address`,
		"mailbox: {lmtp: \"[::]:24\"}":    `c.yaml:6: mailbox.lmtp "[::]:24": the host is the unspecified address`,
		"    milters: [{name: m, address: \"inet:0.0.0.0:11332\"}]\nmailbox: {maildir: m}": `c.yaml:6: milter "m": address: "inet:0.0.0.0:11332": the host is the unspecified address`,
		"    milters: [{name: m, address: \"inet:[::]:11332\"}]\nmailbox: {maildir: m}":    `c.yaml:6: milter "m": address: "inet:[::]:11332": the host is the unspecified address`,
	} {
		_, err := Parse([]byte(base+line+"\n"), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n%v\nwant %s", line, err, want)
		}
	}
	topo := "sites: [{name: a}]\nservers:\n  - {name: hub1, role: hub, site: a, address: \"10.0.0.1:25\", source_addresses: [%s]}\n"
	for _, a := range []string{`"0.0.0.0/0"`, `"::/0"`, `"0.0.0.0"`, `"::"`, `"::ffff:0.0.0.0/96"`} {
		_, err := ParseTopology([]byte(strings.Replace(topo, "%s", a, 1)), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), `t.yaml:3: server "hub1": source address `+a) {
			t.Errorf("source_addresses [%s]: %v, want refused at its line", a, err)
		}
	}
	if _, err := ParseTopology([]byte(strings.Replace(topo, "%s", `"10.0.0.9", "10.1.0.0/16"`, 1)), "t.yaml"); err != nil {
		t.Errorf("source_addresses of real addresses: %v", err)
	}
}
