package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every file a setting names is loaded and checked as serve uses it —
// by config check, by serve before it creates anything in data_dir, and
// by SIGHUP before it changes anything — each error at the setting's
// file:line (rt25 F8, F1): a missing file, a directory in its place, a
// CA file without a certificate, an empty password file, a DKIM or ARC
// key of the wrong kind, a certificate or key that does not load or a
// key of another certificate.
func TestConfigCheckLoadsNamedFileContents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	empty := write("empty.pem", "")
	garbage := write("garbage.pem", "garbage\n")
	emptyPW := write("empty.pw", "\n")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecKey := write("ec.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(ed)
	edKey := write("ed.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	cert := selfSignedCert(t, "hub.e2e.test")
	certFile := write("tls.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	der, _ = x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	keyFile := write("tls.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))

	const ldap = "ldap:\n  url: ldap://127.0.0.1:9\n  base_dn: dc=x\n"
	arc := func(key string) string {
		return "dkim:\n  arc:\n    domain: example.test\n    selector: s\n    key_file: " + key + "\n"
	}
	dkim := func(key string) string {
		return "dkim:\n  keys:\n    - {domain: example.test, selector: s, key_file: " + key + "}\n"
	}
	sendAuth := func(file string) func(string) string {
		return func(text string) string {
			return strings.Replace(text, "mailbox:\n", "  - name: submit\n    address_spaces: [{domain: \"x.test\", cost: 1}]\n    smart_hosts: [\"127.0.0.1:9\"]\n    tls: required\n"+
				"    auth: {username: u, password_file: "+file+"}\nmailbox:\n", 1)
		}
	}
	clientCA := func(file string) func(string) string {
		return func(text string) string {
			return strings.Replace(text, "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n"+
				"    tls: {cert_file: "+certFile+", key_file: "+keyFile+", client_ca_file: "+file+"}\n", 1)
		}
	}
	receiveTLS := func(cert, key string) func(string) string {
		return func(text string) string {
			return strings.Replace(text, "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n"+
				"    tls: {cert_file: "+cert+", key_file: "+key+"}\n", 1)
		}
	}
	transportTLS := func(cert, key string) func(string) string {
		return func(text string) string {
			return strings.Replace(text, "transport:\n", "transport:\n  client_cert_file: "+cert+"\n  client_key_file: "+key+"\n", 1)
		}
	}
	other := selfSignedCert(t, "other.e2e.test")
	der, _ = x509.MarshalPKCS8PrivateKey(other.PrivateKey)
	otherKey := write("other.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	creds := write("creds", "# no account\n")
	badCreds := write("badcreds", "alice:notahash\nbob\n")
	bigFile := write("big.pem", "")
	if err := os.Truncate(bigFile, 1<<30); err != nil { // sparse: a size, not disk
		t.Fatal(err)
	}
	bigKey := write("big.key", "")
	if err := os.Truncate(bigKey, 2<<20); err != nil {
		t.Fatal(err)
	}
	bigDKIM := write("big.dkim", "")
	if err := os.Truncate(bigDKIM, 70<<10); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bigDKIM, 0o644) // every user may read it, and it is too large: two faults
	appendYAML := func(yaml string) func(string) string { return func(text string) string { return text + yaml } }
	console := func(cert, key string) func(string) string {
		return appendYAML("console:\n  listen: " + freeAddr(t, "127.0.0.1") + "\n  cert_file: " + cert + "\n  key_file: " + key + "\n  credentials_file: " + creds + "\n")
	}
	consoleCreds := func(file string) func(string) string {
		return appendYAML("console:\n  listen: " + freeAddr(t, "127.0.0.1") + "\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n  credentials_file: " + file + "\n")
	}
	publish := func(cert, key string) func(string) string {
		return appendYAML("outbound_tls:\n  mta_sts_publish:\n    listen: " + freeAddr(t, "127.0.0.1") + "\n    cert_file: " + cert + "\n    key_file: " + key +
			"\n    mx: [mx.example.test]\n")
	}
	all := func(edits ...func(string) string) func(string) string {
		return func(text string) string {
			for _, e := range edits {
				text = e(text)
			}
			return text
		}
	}
	cases := []struct {
		name string
		edit func(string) string
		want string // a regular expression, after file:line
	}{
		{"outbound ca missing", appendYAML("outbound_tls:\n  ca_file: " + missing + "\n"), `outbound_tls\.ca_file ` + missing + `: no such file or directory`},
		{"outbound ca directory", appendYAML("outbound_tls:\n  ca_file: " + dir + "\n"), `outbound_tls\.ca_file ` + dir + ` is not a regular file`},
		{"outbound ca empty", appendYAML("outbound_tls:\n  ca_file: " + empty + "\n"), `outbound_tls\.ca_file ` + empty + `: no PEM certificate`},
		{"outbound ca garbage", appendYAML("outbound_tls:\n  ca_file: " + garbage + "\n"), `outbound_tls\.ca_file ` + garbage + `: no PEM certificate`},
		{"outbound ca is a key", appendYAML("outbound_tls:\n  ca_file: " + ecKey + "\n"), `outbound_tls\.ca_file ` + ecKey + `: no PEM certificate`},
		{"ldap ca missing", appendYAML(ldap + "  ca_file: " + missing + "\n"), `ldap\.ca_file ` + missing + `: no such file or directory`},
		{"ldap ca garbage", appendYAML(ldap + "  ca_file: " + garbage + "\n"), `ldap\.ca_file ` + garbage + `: no PEM certificate`},
		{"ldap password missing", appendYAML(ldap + "  bind_dn: cn=x\n  bind_password_file: " + missing + "\n"), `ldap\.bind_password_file ` + missing + `: no such file or directory`},
		{"ldap password empty", appendYAML(ldap + "  bind_dn: cn=x\n  bind_password_file: " + emptyPW + "\n"), `ldap\.bind_password_file ` + emptyPW + ` is empty`},
		{"send password missing", sendAuth(missing), `send_connectors\[1\]\.auth\.password_file ` + missing + `: no such file or directory`},
		{"send password empty", sendAuth(emptyPW), `send_connectors\[1\]\.auth\.password_file ` + emptyPW + ` is empty`},
		{"dkim missing", appendYAML(dkim(missing)), `dkim\.keys\[0\]\.key_file ` + missing + `: no such file or directory`},
		{"dkim garbage", appendYAML(dkim(garbage)), `key_file: ` + garbage + `: no PEM block`},
		{"dkim ecdsa", appendYAML(dkim(ecKey)), `key_file: ` + ecKey + `: ECDSA keys have no DKIM algorithm`},
		{"arc missing", appendYAML(arc(missing)), `dkim\.arc\.key_file ` + missing + `: no such file or directory`},
		{"arc ecdsa", appendYAML(arc(ecKey)), `ECDSA keys have no DKIM algorithm`},
		{"arc ed25519", appendYAML(arc(edKey)), edKey + `: the sealing key must be RSA`},
		{"receive key is a certificate", receiveTLS(certFile, certFile), `receive_connectors\[0\]\.tls\.key_file ` + certFile + `: .*found a certificate rather than a key`},
		{"receive certificate garbage", receiveTLS(garbage, keyFile), `receive_connectors\[0\]\.tls\.cert_file ` + garbage + `: .*PEM data in certificate input`},
		{"receive key missing", receiveTLS(certFile, missing), `receive_connectors\[0\]\.tls\.key_file ` + missing + `: no such file or directory`},
		{"transport key of another certificate", transportTLS(certFile, otherKey), `transport\.client_key_file ` + otherKey + ` does not match the certificate`},
		{"transport certificate is a key", transportTLS(keyFile, keyFile), `transport\.client_cert_file ` + keyFile + `: .*PEM data in certificate input`},
		{"console key is a certificate", console(certFile, certFile), `console\.key_file ` + certFile + `: .*found a certificate rather than a key`},
		{"console key of another certificate", console(certFile, otherKey), `console\.key_file ` + otherKey + ` does not match the certificate`},
		{"mta-sts publish key is a certificate", publish(certFile, certFile), `outbound_tls\.mta_sts_publish\.key_file ` + certFile + `: .*found a certificate rather than a key`},
		{"mta-sts publish certificate garbage", publish(garbage, keyFile), `outbound_tls\.mta_sts_publish\.cert_file ` + garbage + `: .*PEM data in certificate input`},
		// A directory serve creates under a file: refused at load, not
		// by serve after it created the database.
		{"pickup directory under a file", appendYAML("pickup:\n  directory: " + garbage + "/pickup\n"), `pickup\.directory ` + garbage + `/pickup: ` + garbage + ` is not a directory`},
		{"maildir under a file", func(text string) string {
			return strings.Replace(text, "  maildir: maildir\n", "  maildir: "+garbage+"/maildir\n", 1)
		}, `mailbox\.maildir ` + garbage + `/maildir: ` + garbage + ` is not a directory`},
		{"client ca missing", clientCA(missing), `receive_connectors\[0\]\.tls\.client_ca_file ` + missing + `: no such file or directory`},
		{"client ca garbage", clientCA(garbage), `receive_connectors\[0\]\.tls\.client_ca_file ` + garbage + `:? .*no PEM certificate`},
		// Several mistakes at once: one run reports each, at its line,
		// not only the first (an operator used to fix one, rerun, and
		// find the next). Two refused by one loader (the DKIM key and
		// the transport certificate are both deliveryConfig's), one file
		// that cannot be read beside the files that load.
		{"every bad file at once", all(appendYAML(dkim(ecKey)), transportTLS(certFile, otherKey), sendAuth(emptyPW), receiveTLS(certFile, certFile),
			appendYAML("outbound_tls:\n  ca_file: "+garbage+"\n"), appendYAML(ldap+"  bind_dn: cn=x\n  bind_password_file: "+missing+"\n"),
			console(certFile, otherKey)),
			`dkim\.keys\[0\] .*key_file: ` + ecKey + `: ECDSA keys have no DKIM algorithm`},
		// Every bad file of one receive connector, and every bad line of
		// its credentials file, in one run (rt34 F1, F3): a certificate
		// without PEM, a client CA file without a certificate, a
		// credentials file with two bad lines.
		{"every bad file of a connector", func(text string) string {
			return strings.Replace(text, "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n"+
				"    tls: {cert_file: "+garbage+", key_file: "+keyFile+", client_ca_file: "+garbage+"}\n"+
				"    auth: {mechanisms: [PLAIN], credentials_file: "+badCreds+"}\n", 1)
		}, `receive_connectors\[0\]\.tls\.cert_file ` + garbage + `: .*PEM data in certificate input`},
		// A large file is refused at its limit, not read whole (rt34 F16).
		{"client ca too large", clientCA(bigFile), `receive_connectors\[0\]\.tls\.client_ca_file ` + bigFile + `: file too large: larger than the 16 MiB limit for a certificate file`},
		{"mta-sts publish certificate missing", publish(missing, keyFile), `outbound_tls\.mta_sts_publish\.cert_file ` + missing + `: no such file or directory`},
		// Every failing check of every file (rt35 F2): both files of a
		// pair over their limits, a certificate without PEM beside a key
		// over its limit, a DKIM key every user can read that is too
		// large.
		{"receive certificate and key too large", receiveTLS(bigFile, bigKey), `receive_connectors\[0\]\.tls\.cert_file ` + bigFile + `: file too large`},
		{"mta-sts publish certificate garbage, key too large", publish(garbage, bigKey), `outbound_tls\.mta_sts_publish\.cert_file ` + garbage + `: .*PEM data in certificate input`},
		{"dkim readable by every user and too large", appendYAML(dkim(bigDKIM)), `key_file: ` + bigDKIM + `: mode -rw-r--r-- lets every user read the key`},
		// The console's credentials file at its setting's line, each bad
		// line, like a receive connector's.
		{"console credentials bad lines", consoleCreds(badCreds), `console\.credentials_file ` + badCreds + `:1: the password of \\?"alice\\?" is not a bcrypt hash`},
	}

	// also: more refusals the same run reports, each after file:line
	// (the loaders do not stop at the first file).
	also := map[string][]string{"every bad file at once": []string{
		`transport\.client_key_file ` + otherKey + ` does not match the certificate`,
		`send_connectors\[1\]\.auth\.password_file ` + emptyPW + ` is empty`,
		`receive_connectors\[0\]\.tls\.key_file ` + certFile + `: .*found a certificate rather than a key`,
		`outbound_tls\.ca_file ` + garbage + `: no PEM certificate`,
		`ldap\.bind_password_file ` + missing + `: no such file or directory`,
		`console\.key_file ` + otherKey + ` does not match the certificate`,
	},
		"receive certificate and key too large":              {`receive_connectors\[0\]\.tls\.key_file ` + bigKey + `: file too large`},
		"mta-sts publish certificate garbage, key too large": {`outbound_tls\.mta_sts_publish\.key_file ` + bigKey + `: file too large`},
		"dkim readable by every user and too large":          {`key_file: ` + bigDKIM + `: more than 65536 bytes`},
		"console credentials bad lines":                      {`console\.credentials_file ` + badCreds + `:2: want name:bcrypt-hash\[:server\]`},
		"every bad file of a connector": []string{
			`receive_connectors\[0\]\.tls\.client_ca_file ` + garbage + `:? .*no PEM certificate`,
			`receive_connectors\[0\]\.auth\.credentials_file ` + badCreds + `:1: the password of \\?"alice\\?" is not a bcrypt hash`,
			`receive_connectors\[0\]\.auth\.credentials_file ` + badCreds + `:2: want name:bcrypt-hash\[:server\]`,
		}}
	// never: what the same run must not say: a file left out after its
	// refusal is not refused again under an empty name (rt34 F13).
	never := map[string]string{
		"dkim missing":                        `stat : |key_file : `,
		"mta-sts publish certificate missing": `cert_file : |stat : `,
	}

	// One running daemon takes each configuration on SIGHUP and refuses
	// it at the same line.
	hupDir := t.TempDir()
	hupAddr := freeAddr(t, "127.0.0.1")
	hupCfg := relayConfig(t, hupDir, hupAddr, "127.0.0.1:9")
	hupBase, _ := os.ReadFile(hupCfg)
	hub := startUmbra(t, hupCfg, hupAddr)
	// A refusal in the web console, which a reload does not apply, is
	// a warning of the reload, not its failure (rr27 F3).
	const startOnlyWarn = "a part that applies only at a restart"
	failures := func() (int, string) {
		b, _ := os.ReadFile(hub.log)
		// Each reload ends in one of these, after its warnings.
		return strings.Count(string(b), "reload failed") + strings.Count(string(b), "configuration reloaded") +
			strings.Count(string(b), "reloaded; these settings changed"), string(b)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			cfg := relayConfig(t, sub, freeAddr(t, "127.0.0.1"), "127.0.0.1:9")
			data, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, []byte(tc.edit(string(data))), 0o600)
			var res []*regexp.Regexp
			for _, w := range append([]string{tc.want}, also[tc.name]...) {
				res = append(res, regexp.MustCompile(regexp.QuoteMeta(cfg)+`:\d+: .*`+w))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
				t.Errorf("config check: %v, want exit %d\n%s", err, exitConfig, out)
			}
			for _, re := range res {
				if !re.Match(out) {
					t.Errorf("config check: want %q\n%s", re, out)
				}
			}
			if n := never[tc.name]; n != "" && regexp.MustCompile(n).Match(out) {
				t.Errorf("config check: a refusal of a file left out (%q)\n%s", n, out)
			}
			out, err = exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg).CombinedOutput()
			for _, re := range res {
				if err == nil || !re.Match(out) {
					t.Errorf("serve: %v, want %q\n%s", err, re, out)
				}
			}
			if _, err := os.Stat(filepath.Join(sub, "data", "queue.db")); err == nil {
				t.Errorf("serve refused the configuration after creating queue.db")
			}

			before, _ := failures()
			os.WriteFile(hupCfg, []byte(tc.edit(string(hupBase))), 0o600)
			hub.hup()
			waitCond(t, "the failed reload in the log", 20*time.Second, func() bool { n, _ := failures(); return n > before })
			for _, w := range append([]string{tc.want}, also[tc.name]...) {
				hupRE := regexp.MustCompile(regexp.QuoteMeta(hupCfg) + `:\d+: .*` + w)
				where := "reload failed"
				if strings.HasPrefix(w, `console\.`) {
					where = startOnlyWarn
				}
				waitCond(t, "the reload's "+where, 20*time.Second, func() bool { _, log := failures(); return strings.Contains(log, where) })
				if _, log := failures(); !hupRE.MatchString(log[strings.LastIndex(log, where):]) {
					t.Errorf("SIGHUP: the reload's %q does not match %q:\n%s", where, hupRE, log)
				}
			}
		})
	}
}

// A configuration whose only own errors are paths (a data_dir under a
// file, a file setting that is a link to nothing) is checked on: config
// check reports those and the content errors of the other files it
// names in one run, each at its file:line (rt34 F2).
func TestConfigCheckPathErrorsBesideContentErrors(t *testing.T) {
	dir := t.TempDir()
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o600)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("garbage\n"), 0o600)
	nowhere := filepath.Join(dir, "nowhere.pem")
	os.Symlink(filepath.Join(dir, "missing"), nowhere)
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), "127.0.0.1:9")
	data, _ := os.ReadFile(cfg)
	text := regexp.MustCompile(`(?m)^  data_dir: .*$`).ReplaceAllString(string(data), "  data_dir: "+afile+"/data")
	text += "outbound_tls:\n  ca_file: " + garbage + "\nldap:\n  url: ldap://127.0.0.1:9\n  base_dn: dc=x\n  ca_file: " + nowhere + "\n"
	os.WriteFile(cfg, []byte(text), 0o600)
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
		t.Fatalf("config check: %v, want exit %d\n%s", err, exitConfig, out)
	}
	for _, w := range []string{
		`server\.data_dir ` + afile + `/data: ` + afile + ` is not a directory`,
		`ldap\.ca_file ` + nowhere + ` is a symbolic link that leads to nothing`,
		`outbound_tls\.ca_file ` + garbage + `: no PEM certificate`,
	} {
		if !regexp.MustCompile(regexp.QuoteMeta(cfg) + `:\d+: ` + w).Match(out) {
			t.Errorf("want %q\n%s", w, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, cfg+":") && !strings.HasPrefix(line, "umbra: ") {
			t.Errorf("a line without file:line: %q", line)
		}
		if strings.Contains(line, "ca_file : ") {
			t.Errorf("a file left out refused again: %q", line)
		}
	}
}
