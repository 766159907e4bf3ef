package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/ldapdir/slapdtest"
)

// routeExplain runs route explain with args and returns its standard
// output, standard error and exit status.
func routeExplain(t *testing.T, args ...string) (out, errOut string, code int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"route", "explain"}, args...)...)
	var se strings.Builder
	cmd.Stderr = &se
	b, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(b), se.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(b), se.String(), 0
}

// rcptLine is the rcpt: line route explain printed for rcpt.
func rcptLine(out, rcpt string) string {
	for _, part := range strings.Split(out, "\n\n") {
		if !strings.Contains(part, rcpt+" (from") {
			continue
		}
		for _, l := range strings.Split(part, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "rcpt:") {
				return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "rcpt:"))
			}
		}
	}
	return ""
}

// OPS-3, SMTP-6: route explain with a daemon answering says what RCPT
// answers by the recipients the daemon loaded — the recipients file as
// it read it at its start or last reload — not by the file as edited
// since (it built the lists from the files on disk). Its output says
// what it explains: the daemon's configuration, or, with no daemon
// answering, the configuration file ("no daemon answers"), in the text
// and in --json.
func TestRouteExplainAsksTheDaemonForRecipients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg, rcptFile, _ := rcptHub(t, dir, listen)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "hub-data", "admin.sock")

	// The file now lists bob, not alice; the daemon was not reloaded.
	if err := os.WriteFile(rcptFile, []byte("bob@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := func(when string, daemon bool, known, unknown string) {
		t.Helper()
		for _, how := range [][]string{{"--config", cfg}, {"--socket", sock}} {
			if !daemon && how[0] == "--socket" {
				continue // no daemon: the file is named
			}
			out, errOut, code := routeExplain(t, append(how, known, unknown)...)
			if code != 0 {
				t.Fatalf("%s: route explain %s: exit %d\n%s%s", when, how[0], code, out, errOut)
			}
			if k, u := rcptLine(out, known), rcptLine(out, unknown); !strings.HasPrefix(k, "250") || !strings.Contains(k, "known to the directory") ||
				!strings.HasPrefix(u, "550 5.1.1") {
				t.Errorf("%s: route explain %s: rcpt %s %q, %s %q; want %s known, %s refused\n%s", when, how[0], known, k, unknown, u, known, unknown, out)
			}
			first, _, _ := strings.Cut(out, "\n")
			if daemon && (!strings.HasPrefix(first, "(from the configuration the daemon on "+sock+" runs") || strings.Contains(errOut, "no daemon")) {
				t.Errorf("%s: route explain %s does not say it explains the daemon's configuration: %q\n%s", when, how[0], first, errOut)
			}
			if !daemon && (!strings.HasPrefix(first, "(from the configuration file "+cfg+" as it reads now: no daemon answers") ||
				!strings.Contains(errOut, "no daemon answers")) {
				t.Errorf("%s: route explain %s does not say no daemon answered: %q\n%s", when, how[0], first, errOut)
			}
			jout, _, code := routeExplain(t, append(how, "--json", known)...)
			var ex routeExplanation
			if code != 0 || json.Unmarshal([]byte(jout), &ex) != nil || ex.Daemon != daemon || ex.From == "" {
				t.Errorf("%s: route explain %s --json: exit %d, daemon %v from %q; want daemon %v\n%s", when, how[0], code, ex.Daemon, ex.From, daemon, jout)
			}
		}
	}
	want("the file edited, not reloaded", true, "alice@example.test", "bob@example.test")
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "configuration reloaded")
	})
	want("reloaded", true, "bob@example.test", "alice@example.test")
	if err := os.WriteFile(rcptFile, []byte("carol@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.kill()
	want("no daemon", false, "carol@example.test", "bob@example.test")
}

// OPS-3 (LDAP directory): route explain with a daemon answering asks
// the daemon's directory — the one it connected at its start — for a
// recipient and its mailbox database, not a directory built here from
// the ldap settings' files: with the password file gone since the start
// (rotated away; the daemon keeps its bind), the explanation is still
// the daemon's, where building a directory from the files refused it
// (exit 2). With no daemon, the files decide and say so.
func TestRouteExplainAsksTheDaemonsDirectory(t *testing.T) {
	dir := t.TempDir()
	slapd := slapdtest.Start(t, "127.0.0.183", []string{"../../internal/ldapdir/umbra.schema"}, ldapTestLDIF())
	listen, mbx := freeAddr(t, "127.0.0.183"), "127.0.0.183:13201" // nothing listens on mbx: nothing is delivered
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: %q}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: %q}
mailbox_databases:
  - {name: DB-A, server: mbx1.example.test}
  - {name: DB-B, server: mbx1.example.test}
recipients:
  - {match: example.test, database: DB-A}
`, listen, mbx)), 0o600)
	pwFile := filepath.Join(dir, "ldap.pw")
	os.WriteFile(pwFile, []byte("service-pw\n"), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
%sldap:
  url: %s
  bind_dn: cn=umbra,%s
  bind_password_file: %s
  base_dn: %s
  recipient_filter: "(mail=%%s)"
  database_attribute: umbraMailboxDatabase
`, filepath.Join(dir, "data"), topo, submitConnector("in", listen, "max_acknowledgement_delay: 0s"), slapd.URL, slapdtest.Suffix, pwFile, slapdtest.Suffix)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if err := os.Remove(pwFile); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := routeExplain(t, "--config", cfg, "alice@example.test", "nobody@example.test")
	if code != 0 || !strings.Contains(out, "directory assigns alice@example.test to mailbox database DB-B") ||
		!strings.Contains(rcptLine(out, "alice@example.test"), "known to the directory") ||
		!strings.HasPrefix(rcptLine(out, "nobody@example.test"), "550 5.1.1") {
		t.Errorf("route explain with the daemon's directory (its password file gone since its start): exit %d\n%s%s", code, out, errOut)
	}
	d.kill()
	out, errOut, code = routeExplain(t, "--config", cfg, "alice@example.test")
	if code != exitConfig || !strings.Contains(errOut, "bind_password_file") {
		t.Errorf("route explain with no daemon and the password file gone: exit %d, want %d naming ldap.bind_password_file\n%s%s", code, exitConfig, out, errOut)
	}
}

// OPS-3 (ops24 4): route explain --topology FILE with a daemon answering
// works the rcpt: answers out here, from the recipients file as it
// reads now checked against that topology (the daemon's own answers are
// for the topology it runs) — and says so: the output said only that it
// explained the daemon's configuration "its recipients and directory",
// while the rcpt: lines were the file's as edited since. Each answer's
// source is said: the first lines (rcpt_from in --json), whichever it is.
func TestRouteExplainTopologySaysWhereRcptComesFrom(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg, rcptFile, _ := rcptHub(t, dir, listen)
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(fmt.Sprintf("sites: [{name: s1}]\nservers:\n  - {name: hub.rcpt.test, role: hub, site: s1, address: %q}\n", listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "hub-data", "admin.sock")
	// The file now lists bob, not alice; the daemon was not reloaded.
	if err := os.WriteFile(rcptFile, []byte("bob@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args           []string
		known, unknown string
		from           string // in the rcpt: source line and rcpt_from
	}{
		{[]string{"--config", cfg}, "alice@example.test", "bob@example.test", "the daemon on " + sock},
		{[]string{"--config", cfg, "--topology", topo}, "bob@example.test", "alice@example.test", "the recipients file and directory of " + cfg + " as they read now"},
	} {
		out, errOut, code := routeExplain(t, append(c.args, c.known, c.unknown)...)
		if code != 0 {
			t.Fatalf("route explain %q: exit %d\n%s%s", c.args, code, out, errOut)
		}
		if k, u := rcptLine(out, c.known), rcptLine(out, c.unknown); !strings.HasPrefix(k, "250") || !strings.HasPrefix(u, "550 5.1.1") {
			t.Fatalf("route explain %q: rcpt %s %q, %s %q; want %s known, %s refused\n%s", c.args, c.known, k, c.unknown, u, c.known, c.unknown, out)
		}
		head := strings.Join(strings.SplitN(out, "\n", 3)[:2], "\n")
		if !strings.Contains(head, "(rcpt: answers from "+c.from) {
			t.Errorf("route explain %q does not say where its rcpt: answers come from (%q):\n%s", c.args, c.from, head)
		}
		if len(c.args) > 2 && strings.Contains(head, "its recipients") {
			t.Errorf("route explain %q claims the daemon's recipients for answers worked out from the files:\n%s", c.args, head)
		}
		jout, _, code := routeExplain(t, append(c.args, "--json", c.known)...)
		var ex routeExplanation
		if code != 0 || json.Unmarshal([]byte(jout), &ex) != nil || !strings.HasPrefix(ex.RcptFrom, c.from) {
			t.Errorf("route explain %q --json: exit %d, rcpt_from %q; want %q…\n%s", c.args, code, ex.RcptFrom, c.from, jout)
		}
	}
}
