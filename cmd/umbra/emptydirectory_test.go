package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lineOf is "cfg:N: " for the first line of the file cfg holding s.
func lineOf(t *testing.T, cfg, s string) string {
	t.Helper()
	text, _ := os.ReadFile(cfg)
	for i, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, s) {
			return fmt.Sprintf("%s:%d: ", cfg, i+1)
		}
	}
	t.Fatalf("%q not in %s", s, cfg)
	return ""
}

// checkFails runs config check and serve on cfg: both must refuse it
// with exitConfig and every want in their output.
func checkFails(t *testing.T, what, cfg string, want ...string) {
	t.Helper()
	for _, args := range [][]string{{"config", "check", cfg}, {"serve", "-c", cfg}} {
		// serve of a configuration it accepts runs: bounded.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, umbraBin, args...).CombinedOutput()
		cancel()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitConfig {
			t.Errorf("%s: umbra %s: %v, want exit %d\n%s", what, args[0], err, exitConfig, out)
			continue
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: umbra %s: %q not in\n%s", what, args[0], w, out)
			}
		}
	}
}

// SMTP-6: a recipients file that lists no address of a domain validated
// by directory (0 bytes, only comments, or every entry for a mistyped
// domain) makes every address of it refused, as no directory source at
// all would: config check and serve refuse it at the line of
// recipients.file, naming the domain and the file, and a reload to it
// fails and keeps the running list (rt26c F1).
func TestEmptyRecipientsFileIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t, "127.0.0.195")
	cfg, rcptFile, _ := rcptHub(t, dir, addr)
	at := lineOf(t, cfg, rcptFile) + "recipients.file " + rcptFile + ": "
	for _, c := range []struct{ name, text string }{
		{"0 bytes", ""},
		{"only comments", "# mailboxes\n\n# none yet\n"},
		{"a mistyped domain", "alice@exmaple.test\nbob@exmaple.test\n"},
	} {
		os.WriteFile(rcptFile, []byte(c.text), 0o600)
		checkFails(t, c.name, cfg, at, `"example.test"`)
	}

	// Inline addresses only, none of the domain: at the domain's line.
	inline := filepath.Join(dir, "inline.yaml")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(inline, []byte(strings.Replace(string(text), "recipients: {file: "+rcptFile+"}", "recipients: {addresses: [alice@exmaple.test]}", 1)), 0o600)
	checkFails(t, "inline addresses of another domain", inline, lineOf(t, inline, "accepted_domains:")+`accepted domain "example.test"`, "recipients.addresses")

	os.WriteFile(rcptFile, []byte("alice@example.test\n"), 0o600)
	hub := startUmbra(t, cfg, addr)
	os.WriteFile(rcptFile, nil, 0o600)
	hub.hup()
	waitCond(t, "the failed reload in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(hub.log)
		return strings.Contains(string(b), "reload failed") && strings.Contains(string(b), `example.test`)
	})
	wantReplies(t, "after a reload to an empty file", rcptReplies(t, addr, "alice@example.test", "carol@example.test"),
		map[string]string{"alice@example.test": "250", "carol@example.test": "550 5.1.1"})
	if t.Failed() {
		hub.dumpLog()
	}
}

// SMTP-2: a receive connector that offers AUTH with a credentials file
// holding no account would fail every AUTH: config check and serve
// refuse it at the line of auth.credentials_file, naming the connector;
// a connector that also asks the directory (auth.ldap) is not this
// check (rt26c F1).
func TestEmptyCredentialsFileIsAConfigError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.195")
	creds := filepath.Join(dir, "credentials")
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.creds.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), submitConnector("in", listen,
		`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	at := lineOf(t, cfg, creds)
	for _, c := range []struct{ name, text string }{
		{"0 bytes", ""},
		{"only comments", "# accounts\n\n"},
	} {
		os.WriteFile(creds, []byte(c.text), 0o600)
		checkFails(t, c.name, cfg, at, creds, "no account", "in")
	}

	// A reload to an emptied file is taken, as the console's is: it is
	// how the last account is revoked. Nobody authenticates after it,
	// and it is logged at ERROR. A file that no longer parses (an edit
	// cut short) keeps the accounts loaded.
	good, err := os.ReadFile("../../configs/dev-credentials")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(creds, good, 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if r := authPlain(t, listen, "alice", "secret"); !strings.HasPrefix(r, "235") {
		t.Fatalf("alice before the reload: %s", r)
	}
	os.WriteFile(creds, []byte("alice:not-a-hash\n"), 0o600)
	d.hup()
	waitCond(t, "the failed reload in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed") && strings.Contains(string(b), "not a bcrypt hash")
	})
	if r := authPlain(t, listen, "alice", "secret"); !strings.HasPrefix(r, "235") {
		t.Fatalf("alice after a reload of a broken file: %s, want the old accounts kept", r)
	}
	os.WriteFile(creds, nil, 0o600)
	d.hup()
	waitCond(t, "the emptied file taken at ERROR", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		if !strings.Contains(string(b), "receive connectors reloaded") {
			return false
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, "holds no account") && !strings.Contains(l, "reload failed") {
				return true
			}
		}
		return false
	})
	if r := authPlain(t, listen, "alice", "secret"); !strings.HasPrefix(r, "535") {
		t.Fatalf("alice after the reload emptying the file: %s, want 535", r)
	}
}

// OPS-5, SMTP-2: the web console's credentials file with no account
// that may log in (0 bytes, only comments, only transport server
// accounts, which the console refuses) leaves the console with nobody to
// log in: config check and serve refuse it at the line of the setting
// that names it — console.credentials_file, or the receive connector's
// auth.credentials_file it falls back to — as the recipients and
// credentials files are refused (opsfix26). (A reload only warns of it,
// and the running console takes such a file — nobody logs in — as the
// revocation of its last account: revokereload_test.go,
// internal/console.)
func TestEmptyConsoleCredentialsFileIsAConfigError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.181")
	creds := filepath.Join(dir, "console-credentials")
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.console.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
  credentials_file: %s
%s`, filepath.Join(dir, "data"), freeAddr(t, "127.0.0.181"), certFile, keyFile, creds, submitConnector("in", listen))), 0o600)
	at := lineOf(t, cfg, "credentials_file: "+creds)
	server, err := os.ReadFile("../../configs/dev-credentials")
	if err != nil {
		t.Fatal(err)
	}
	var serverOnly string
	for _, l := range strings.Split(string(server), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			serverOnly = l + ":server\n"
			break
		}
	}
	for _, c := range []struct{ name, text string }{
		{"0 bytes", ""},
		{"only comments", "# operators\n\n"},
		{"only server accounts", serverOnly},
	} {
		os.WriteFile(creds, []byte(c.text), 0o600)
		checkFails(t, c.name, cfg, at, "console.credentials_file "+creds, "no account that may log in")
	}

	// Falling back to a receive connector's file: at that line (the
	// connector, which offers AUTH — a credentials file on one that
	// offers none is refused in itself —, refuses it there too).
	fallback := filepath.Join(dir, "fallback.yaml")
	text, _ := os.ReadFile(cfg)
	s := strings.Replace(string(text), "  credentials_file: "+creds+"\n", "", 1)
	s = strings.TrimRight(s, "\n") + "\n    auth: {mechanisms: [PLAIN], allow_insecure: true, credentials_file: " + creds + "}\n"
	os.WriteFile(fallback, []byte(s), 0o600)
	os.WriteFile(creds, nil, 0o600)
	checkFails(t, "the connector's empty file", fallback, lineOf(t, fallback, "credentials_file: "+creds), "no account that may log in")
}

// SMTP-6 (ops27 5): with a topology too, an accepted domain validated
// by directory of which no source lists an address — the topology's
// recipient map names its database and none of its addresses, no
// recipients file or inline address names one — has every RCPT refused
// (550 5.1.1): mail to it bounces at its senders. That is no
// transitional state an operator means (recipient_validation: off or
// callout says "accept, or ask the next hop, meanwhile"), so config
// check and serve refuse it at the domain's line, naming the topology's
// map, as without a topology (opsfix26); before, only a warning in the
// log said so.
func TestTopologyDomainWithoutAddressesIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	cfg := filepath.Join(dir, "hub.yaml")
	listen := freeAddr(t, "127.0.0.185")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hubA, role: hub, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: corp.test, type: authoritative}]
topology: %s
%s`, filepath.Join(dir, "data"), topo, submitConnector("in", listen))), 0o600)
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: A, subnets: ["127.0.0.0/8"]}
servers:
  - {name: hubA, role: hub, address: %q}
  - {name: mbx1, role: mailbox, address: "127.0.0.186:13024"}
mailbox_databases:
  - {name: DB1, server: mbx1}
recipients:
  - {match: corp.test, database: DB1}
`, listen)), 0o600)
	checkFails(t, "a mapped domain with no address", cfg, lineOf(t, cfg, "accepted_domains:")+`accepted domain "corp.test"`, "topology")

	// Its addresses under its entry: accepted.
	os.WriteFile(topo, []byte(strings.Replace(string(must(os.ReadFile(topo))), "{match: corp.test, database: DB1}",
		"{match: corp.test, database: DB1, addresses: [alice@corp.test]}", 1)), 0o600)
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check with the domain's addresses listed: %v\n%s", err, out)
	}

	// A reload to a map without them fails; the running list stays.
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	os.WriteFile(topo, []byte(strings.Replace(string(must(os.ReadFile(topo))), ", addresses: [alice@corp.test]", "", 1)), 0o600)
	d.hup()
	waitCond(t, "the failed reload in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed") && strings.Contains(string(b), `corp.test`)
	})
	wantReplies(t, "after a reload to a map without addresses", rcptReplies(t, listen, "alice@corp.test", "carol@corp.test"),
		map[string]string{"alice@corp.test": "250", "carol@corp.test": "550 5.1.1"})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
