package config

import (
	"strings"
	"testing"
)

// SMTP-3: never an open relay. Anonymous relay (and relay for every
// session of an externally secured connector, where every session is a
// transport server) is a configuration error unless every remote range
// of the connector is a non-public one; missing remote_ranges mean every
// address. The error names the line of the grant.
func TestOpenRelayRefused(t *testing.T) {
	head := "server: {name: hub.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:0\"]\n"
	for _, c := range []struct {
		name, conn, want string
	}{
		{"everything", "    remote_ranges: [\"0.0.0.0/0\", \"::/0\"]\n    permissions:\n      anonymous: [submit, relay]\n",
			`x.yaml:7: receive connector "internet" grants relay to anonymous sessions from public addresses (0.0.0.0/0, ::/0)`},
		{"missing ranges", "    permissions:\n      anonymous: [relay]\n",
			`x.yaml:6: receive connector "internet" grants relay to anonymous sessions from every address (remote_ranges is not set)`},
		{"one public range among private", "    remote_ranges: [\"10.0.0.0/8\", \"192.0.2.0/24\"]\n    permissions: {anonymous: [submit, relay]}\n",
			`x.yaml:6: receive connector "internet" grants relay to anonymous sessions from public addresses (192.0.2.0/24)`},
		{"wider than private", "    remote_ranges: [\"172.16.0.0/11\"]\n    permissions: {anonymous: [relay]}\n",
			`public addresses (172.16.0.0/11)`},
		{"public v6", "    remote_ranges: [\"2001:db8::/32\"]\n    permissions: {anonymous: [relay]}\n",
			`public addresses (2001:db8::/32)`},
		{"mapped public v4", "    remote_ranges: [\"::ffff:0.0.0.0/96\"]\n    permissions: {anonymous: [relay]}\n",
			`public addresses (::ffff:0.0.0.0/96)`},
		{"externally secured servers", "    externally_secured: true\n    permissions: {servers: [submit, relay, accept-xshadow]}\n",
			`x.yaml:6: receive connector "internet" grants relay to every session (externally_secured: every session is a transport server) from every address (remote_ranges is not set)`},
		{"externally secured anonymous", "    externally_secured: true\n    remote_ranges: [\"0.0.0.0/0\"]\n    permissions: {anonymous: [relay]}\n",
			`grants relay to anonymous sessions from public addresses (0.0.0.0/0)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head+c.conn), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
	for _, c := range []struct{ name, conn string }{
		{"loopback", "    remote_ranges: [\"127.0.0.0/8\", \"::1/128\"]\n    permissions: {anonymous: [submit, relay]}\n"},
		{"private", "    remote_ranges: [\"10.1.0.0/16\", \"172.16.0.0/12\", \"192.168.7.0/24\", \"100.64.0.0/10\", \"169.254.0.0/16\", \"fd00::/8\", \"fe80::/10\", \"::ffff:10.0.0.0/104\"]\n    permissions: {anonymous: [relay]}\n"},
		{"externally secured, relay after a login", "    externally_secured: true\n    remote_ranges: [\"0.0.0.0/0\"]\n    permissions: {anonymous: [submit], authenticated: [submit, relay]}\n    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}\n"},
		{"externally secured private", "    externally_secured: true\n    remote_ranges: [\"10.0.0.0/8\"]\n    permissions: {anonymous: [relay], servers: [relay]}\n"},
		{"authenticated from anywhere", "    remote_ranges: [\"0.0.0.0/0\"]\n    permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [relay]}\n    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse([]byte(head+c.conn), "x.yaml"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A CIDR with host bits set (10.9.9.9/0) was taken as its masked prefix
// (0.0.0.0/0) without a word: a configuration error at its line, in
// every place a configuration takes a range.
func TestRangeHostBitsRefused(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"remote range", "server: {name: hub.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:0\"]\n    remote_ranges: [\"127.0.0.0/8\", \"10.9.9.9/0\"]\n    permissions: {anonymous: [submit]}\n",
			`x.yaml:5: remote range "10.9.9.9/0" has host bits set: it would be taken as 0.0.0.0/0; did you mean 10.9.9.9/32?`},
		{"rate limit exempt", "server: {name: hub.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:0\"]\n    remote_ranges: [\"127.0.0.0/8\"]\n    permissions: {anonymous: [submit]}\n    rate_limits:\n      exempt: [\"2001:db8::1/64\"]\n",
			`x.yaml:8: rate_limits.exempt "2001:db8::1/64" has host bits set: it would be taken as 2001:db8::/64; did you mean 2001:db8::1/128?`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}

// The topology's ranges (site subnets, a server's source addresses) are
// refused with host bits set as the configuration's are.
func TestTopologyRangeHostBitsRefused(t *testing.T) {
	const base = "sites:\n  - {name: A, subnets: [\"127.0.1.0/24\"]}\nservers:\n  - {name: hubA, role: hub, address: \"127.0.1.1:25\"}\n"
	for _, c := range []struct{ name, old, new, want string }{
		{"subnet", `"127.0.1.0/24"`, `"127.0.1.0/24", "10.9.9.9/0"`, `t.yaml:2: subnet "10.9.9.9/0" has host bits set: it would be taken as 0.0.0.0/0; did you mean 10.9.9.9/32?`},
		{"source address", `address: "127.0.1.1:25"}`, `address: "127.0.1.1:25", source_addresses: ["127.0.1.1", "127.0.1.7/16"]}`, `t.yaml:4: server "hubA": source address "127.0.1.7/16" has host bits set: it would be taken as 127.0.0.0/16; did you mean 127.0.1.7/32?`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseTopology([]byte(base), "t.yaml"); err != nil {
				t.Fatalf("base refused: %v", err)
			}
			_, err := ParseTopology([]byte(strings.Replace(base, c.old, c.new, 1)), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}

// rt27c F2: the unspecified address (0.0.0.0, [::], [::ffff:0.0.0.0])
// as a next hop connects to this machine itself. CheckHostPort, the one
// check of a smart host (the configuration's and the topology's) and a
// queue redirect's target, refuses it in the words the topology's server
// address check uses.
func TestUnspecifiedNextHopRefused(t *testing.T) {
	for _, hp := range []string{"0.0.0.0:2525", "0.0.0.0", "[::]:25", "[::ffff:0.0.0.0]:25", "::"} {
		if err := CheckHostPort(hp); err == nil || !strings.Contains(err.Error(), "the unspecified address") {
			t.Errorf("CheckHostPort(%q): %v", hp, err)
		}
	}
	doc := "server: {name: hub.test}\nreceive_connectors:\n  - {name: x, bindings: [\"127.0.0.1:0\"], remote_ranges: [\"127.0.0.0/8\"]}\n" +
		"send_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\", cost: 1}]\n    smart_hosts:\n      - \"127.0.0.2:25\"\n      - \"0.0.0.0:2525\"\n"
	if _, err := Parse([]byte(doc), "x.yaml"); err == nil || !strings.Contains(err.Error(), `x.yaml:9: smart host "0.0.0.0:2525": the host is the unspecified address`) {
		t.Errorf("smart host 0.0.0.0: %v", err)
	}
	topo := "sites:\n  - {name: A, subnets: [\"127.0.1.0/24\"]}\nservers:\n  - {name: hubA, role: hub, address: \"127.0.1.1:25\"}\n" +
		"send_connectors:\n  - {name: out, address_spaces: [{domain: \"*\", cost: 1}], source_servers: [hubA], smart_hosts: [\"[::]:25\"]}\n"
	if _, err := ParseTopology([]byte(topo), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:6:") || !strings.Contains(err.Error(), "the unspecified address") {
		t.Errorf("topology smart host [::]: %v", err)
	}
}
