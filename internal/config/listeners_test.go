package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every address umbra listens on (receive connector bindings,
// metrics_listen, console.listen, the MTA-STS policy listener) is opened
// by the same process: two that cannot both be bound (the same address
// and port, or a wildcard and anything on its port, since umbra's
// listeners on 0.0.0.0 and [::] take both families) are an error at the
// later one's line, not a start that fails with no file or line (rt22 F1).
// Receive connectors that write the same binding share one listener.
func TestListenerCollisions(t *testing.T) {
	const head = "server:\n  name: mx.a.test\n"
	for _, tc := range []struct {
		name, yaml string
		line       int // 0: valid
		msg        string
	}{
		{"metrics on a binding", head + "  metrics_listen: 127.0.0.1:2525\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n", 3, "server.metrics_listen"},
		{"metrics under a wildcard binding", head + "  metrics_listen: 127.0.0.1:2525\nreceive_connectors:\n  - name: x\n    bindings: [\"0.0.0.0:2525\"]\n", 3, "0.0.0.0:2525"},
		{"metrics on [::] vs binding", head + "  metrics_listen: \"[::]:2525\"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n", 3, "127.0.0.1:2525"},
		{"metrics other port", head + "  metrics_listen: 127.0.0.1:9325\nreceive_connectors:\n  - name: x\n    bindings: [\"0.0.0.0:2525\"]\n", 0, ""},
		{"metrics other address", head + "  metrics_listen: 127.0.0.2:2525\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n", 0, ""},
		{"port 0 never collides", head + "  metrics_listen: 127.0.0.1:0\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:0\"]\n", 0, ""},
		{"two forms of the wildcard in one connector", head + "receive_connectors:\n  - name: x\n    bindings: [\"0.0.0.0:25\", \"[::]:25\"]\n", 5, "0.0.0.0:25"},
		{"a wildcard and an address in two connectors", head + "receive_connectors:\n  - name: x\n    bindings: [\"0.0.0.0:25\"]\n  - name: y\n    bindings: [\"127.0.0.1:25\"]\n    remote_ranges: [\"127.0.0.0/8\"]\n", 7, "0.0.0.0:25"},
		{"the same binding is shared", head + "receive_connectors:\n  - name: x\n    bindings: [\"0.0.0.0:25\"]\n  - name: y\n    bindings: [\"0.0.0.0:25\"]\n    remote_ranges: [\"127.0.0.0/8\"]\n", 0, ""},
		{"console on a binding", head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n" +
			"console:\n  listen: 127.0.0.1:2525\n  cert_file: c.pem\n  key_file: k.pem\n  credentials_file: creds\n", 7, "console.listen"},
		{"console on metrics", head + "  metrics_listen: 127.0.0.1:9325\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n" +
			"console:\n  listen: 127.0.0.1:9325\n  cert_file: c.pem\n  key_file: k.pem\n  credentials_file: creds\n", 8, "server.metrics_listen"},
		{"mta-sts publish on metrics", head + "  metrics_listen: 127.0.0.1:9325\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:2525\"]\n" +
			"outbound_tls:\n  mta_sts_publish:\n    listen: 127.0.0.1:9325\n    cert_file: c.pem\n    key_file: k.pem\n    mx: [mx.a.test]\n", 9, "server.metrics_listen"},
	} {
		_, err := Parse([]byte(tc.yaml), "l.yaml")
		if tc.line == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != tc.line || !strings.Contains(es[0].Msg, tc.msg) {
			t.Errorf("%s: want one error at l.yaml:%d naming %s, got\n%v", tc.name, tc.line, tc.msg, err)
		}
	}
}

// A data_dir (or Maildir, pickup directory) that exists and is not a
// directory or would be created under a file, and an admin socket path longer than a unix socket address
// holds, are errors at their lines: serve would fail after creating
// things, without file or line (rt22 F1).
func TestDirectoriesAndSocketPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("a", 120)+".sock")
	dangling := filepath.Join(dir, "dangling")
	loop1, loop2 := filepath.Join(dir, "loop1"), filepath.Join(dir, "loop2")
	for _, l := range [][2]string{{filepath.Join(dir, "nowhere", "x"), dangling}, {loop2, loop1}, {loop1, loop2}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	const conn = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	for _, tc := range []struct {
		name, yaml string
		line       int
		msg        string
	}{
		{"data_dir a file", "server:\n  name: mx.a.test\n  data_dir: " + file + "\n" + conn, 3, "server.data_dir"},
		{"maildir a file", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "mailbox:\n  maildir: " + file + "\n", 8, "mailbox.maildir"},
		{"data_dir under a file", "server:\n  name: mx.a.test\n  data_dir: " + file + "/data\n" + conn, 3, "server.data_dir " + file + "/data: " + file + " is not a directory (a regular file)"},
		{"pickup directory under a file", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "pickup:\n  directory: " + file + "/a/b\n", 8,
			"pickup.directory " + file + "/a/b: " + file + " is not a directory"},
		{"admin_socket too long", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n  admin_socket: " + long + "\n" + conn, 4, "server.admin_socket"},
		{"admin_socket an existing file", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n  admin_socket: " + file + "\n" + conn, 4, "exists and is not a socket (a regular file)"},
		{"admin_socket under a file", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n  admin_socket: " + file + "/s.sock\n" + conn, 4, "is not a directory"},
		{"data_dir a dangling symbolic link", "server:\n  name: mx.a.test\n  data_dir: " + dangling + "\n" + conn, 3, "server.data_dir " + dangling + " is a symbolic link that leads to nothing"},
		{"pickup directory under a symbolic link loop", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "pickup:\n  directory: " + loop1 + "/p\n", 8,
			"pickup.directory " + loop1 + "/p: " + loop1 + " is a symbolic link that leads to nothing"},
		{"tracking log under a file", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "tracking:\n  path: " + file + "/t.log\n", 8,
			"tracking.path " + file + "/t.log: " + file + " is not a directory"},
		{"tracking log a directory", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "tracking:\n  path: " + dir + "\n", 8,
			"tracking.path " + dir + " is not a regular file (a directory)"},
		{"tracking log a dangling symbolic link", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "tracking:\n  path: " + dangling + "\n", 8,
			"tracking.path " + dangling + " is a symbolic link that leads to nothing"},
		{"lmtp socket too long", "server:\n  name: mx.a.test\n  data_dir: " + dir + "\n" + conn + "mailbox:\n  lmtp: unix:" + long + "\n", 8, "mailbox.lmtp"},
		{"derived admin_socket too long: data_dir blamed", "server:\n  name: mx.a.test\n  data_dir: " + filepath.Join(dir, strings.Repeat("d", 110)) + "\n" + conn, 3, "server.data_dir"},
	} {
		_, err := Parse([]byte(tc.yaml), "d.yaml")
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != tc.line || !strings.Contains(es[0].Msg, tc.msg) {
			t.Errorf("%s: want one error at d.yaml:%d naming %s, got\n%v", tc.name, tc.line, tc.msg, err)
		}
	}
}

// A receive connector binding on the topology address of another server
// (a binding copied from its file) makes this server answer for it: the
// peers' heartbeats and shadow sessions for that server reach this one,
// which records its own database as the other's (rt21 F6). Refused at
// the binding's line; a wildcard only where the other's address is on
// this machine; nothing for a server behind address translation.
func TestBindingOfAnotherServer(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topo.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: A, subnets: ["127.21.1.0/24", "192.0.2.0/24"]}
servers:
  - {name: hubx, role: hub, address: "127.21.1.17:58025"}
  - {name: huby, role: hub, address: "127.21.1.33:58025"}
  - {name: hubz, role: hub, address: "192.0.2.9:58025"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t0, err := LoadTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bindings   string
		translated bool
		line       int
	}{
		{`["127.21.1.33:58025"]`, false, 0},
		{`["127.21.1.33:58025", "127.21.1.17:58025"]`, false, 7},
		{`["127.21.1.33:58025", "127.21.1.17:2525"]`, false, 0},
		{`["0.0.0.0:58025"]`, false, 7}, // takes hubx's loopback address too
		{`["127.21.1.33:58025", "192.0.2.9:58025"]`, false, 7},
		{`["127.21.1.33:58025", "127.21.1.17:58025"]`, true, 0},
	} {
		yaml := "server:\n  name: huby\n"
		if tc.translated {
			yaml += "  address_translated: true\n"
		} else {
			yaml += "  data_dir: " + dir + "\n"
		}
		yaml += "topology: " + topo + "\nreceive_connectors:\n  - name: x\n    bindings: " + tc.bindings + "\n"
		c, err := Parse([]byte(yaml), "y.yaml")
		if err != nil {
			t.Fatal(err)
		}
		err = c.BindingsOfOtherServers(t0)
		if tc.line == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.bindings, err)
			}
			continue
		}
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != tc.line || !strings.Contains(es[0].Msg, "topology address of server") {
			t.Errorf("%s: want one error at y.yaml:%d, got\n%v", tc.bindings, tc.line, err)
		}
	}
}

// A listener on an address this machine does not have cannot be opened:
// refused at its line by ListenersNotHere (config check and serve),
// unless the system binds such addresses (ip_nonlocal_bind).
func TestListenersNotHere(t *testing.T) {
	if CanBind(netip.MustParseAddr("192.0.2.1")) == nil {
		t.Skip("this machine binds addresses it does not have (ip_nonlocal_bind)")
	}
	yaml := "server:\n  name: mx.a.test\n  metrics_listen: 127.0.0.1:9325\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\", \"192.0.2.1:25\", \"0.0.0.0:587\", \"localhost:26\"]\n"
	c, err := Parse([]byte(yaml), "n.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.ListenersNotHere()
	es, ok := err.(Errors)
	if !ok || len(es) != 1 || es[0].Line != 6 || !strings.Contains(es[0].Msg, "192.0.2.1 is not an address of this machine") {
		t.Errorf("want one error at n.yaml:6, got\n%v", err)
	}
}

// An outbound source address this machine does not have cannot be bound:
// refused at its line, as a listener is (rt25 F1), for the server's and
// for each send connector's; loopback and the machine's addresses pass.
func TestSourceAddressesNotHere(t *testing.T) {
	if CanBind(netip.MustParseAddr("192.0.2.55")) == nil {
		t.Skip("this machine binds addresses it does not have (ip_nonlocal_bind)")
	}
	yaml := `server:
  name: mx.a.test
  source_address: 192.0.2.55
receive_connectors:
  - {name: in, bindings: ["127.0.0.1:25"]}
send_connectors:
  - name: here
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [relay.a.test]
    source_address: 127.0.0.2
  - name: away
    address_spaces: [{domain: "b.test", cost: 1}]
    smart_hosts: [relay.a.test]
    source_address: 192.0.2.56
`
	c, err := Parse([]byte(yaml), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.SourceAddressesNotHere()
	es, ok := err.(Errors)
	if !ok || len(es) != 2 || es[0].Line != 3 || es[1].Line != 14 ||
		!strings.Contains(es[0].Msg, "server.source_address 192.0.2.55 is not an address of this machine") ||
		!strings.Contains(es[1].Msg, "send_connectors[1].source_address 192.0.2.56 is not an address of this machine") {
		t.Errorf("want errors at s.yaml:3 and s.yaml:14, got\n%v", err)
	}
	c, err = Parse([]byte("server:\n  name: mx.a.test\n  source_address: 127.0.0.1\nreceive_connectors:\n  - {name: in, bindings: [\"127.0.0.1:25\"]}\n"), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SourceAddressesNotHere(); err != nil {
		t.Errorf("loopback source address refused: %v", err)
	}
}

// OPS-3, rt34 O3: the topology spelling this server's name otherwise
// (`HUB-A.rt.test.` for server.name hub-a.rt.test) is one error of its
// own (CheckTopologyServer); the server it names is this one, so its
// address is this server's, not another's: a binding there is no second
// error (config check names independent errors only).
func TestBindingOfThisServerOtherwiseSpelled(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topo.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: A, subnets: ["127.0.0.0/24"]}
servers:
  - {name: HUB-A.rt.test., role: hub, address: "127.0.0.136:8601"}
  - {name: hub-b.rt.test, role: hub, address: "127.0.0.136:8602"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t0, err := LoadTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	yaml := "server:\n  name: hub-a.rt.test\n  data_dir: " + dir + "\ntopology: " + topo +
		"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.136:8601\"]\n"
	c, err := Parse([]byte(yaml), "y.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BindingsOfOtherServers(t0); err != nil {
		t.Errorf("a binding on this server's own address, its name spelled otherwise in the topology: %v", err)
	}
	if err := CheckTopologyServer(topo, "hub-a.rt.test", "hub", []string{"127.0.0.136:8601"}); err == nil || !strings.Contains(err.Error(), "write one spelling in both") {
		t.Errorf("the spelling itself: %v, want its own error", err)
	}
}
