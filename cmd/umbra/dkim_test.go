package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"
)

// keygen runs `umbra dkim keygen` and returns the key file and the TXT
// record value it printed (the quoted strings joined).
func keygen(t testing.TB, dir, domain, selector string, extra ...string) (string, string) {
	t.Helper()
	args := append([]string{"dkim", "keygen", domain, selector, "--out", dir}, extra...)
	out, err := exec.Command(umbraBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	var record strings.Builder
	name := selector + "._domainkey." + domain + ". IN TXT"
	if !strings.Contains(string(out), name) {
		t.Fatalf("keygen printed no record %q:\n%s", name, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, ";") {
			continue
		}
		for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(line, -1) {
			if len(m[1]) > 255 {
				t.Fatalf("TXT string of %d bytes (at most 255)", len(m[1]))
			}
			record.WriteString(m[1])
		}
	}
	key := filepath.Join(dir, domain+"."+selector+".key")
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", key, err, fi)
	}
	return key, record.String()
}

func TestDKIMKeygen(t *testing.T) {
	dir := t.TempDir()
	_, ed := keygen(t, dir, "example.org", "ed1")
	if !strings.HasPrefix(ed, "v=DKIM1; k=ed25519; p=") {
		t.Fatalf("ed25519 record %q", ed)
	}
	_, rsa := keygen(t, dir, "example.org", "rsa1", "--algorithm", "rsa", "--bits", "2048")
	if !strings.HasPrefix(rsa, "v=DKIM1; k=rsa; p=") || len(rsa) < 300 {
		t.Fatalf("rsa record %q", rsa)
	}
	// A key in use is never overwritten.
	before, _ := os.ReadFile(filepath.Join(dir, "example.org.ed1.key"))
	out, err := exec.Command(umbraBin, "dkim", "keygen", "example.org", "ed1", "--out", dir).CombinedOutput()
	after, _ := os.ReadFile(filepath.Join(dir, "example.org.ed1.key"))
	if err == nil || !bytes.Equal(before, after) || !strings.Contains(string(out), "exists") {
		t.Fatalf("keygen over an existing key: %v\n%s", err, out)
	}
	out, err = exec.Command(umbraBin, "dkim", "keygen", "example.org", "io1", "--out", filepath.Join(dir, "nonexistent", "dir")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailure || !strings.Contains(string(out), "the directory does not exist") {
		t.Fatalf("keygen into a missing directory: %v (want exit %d, an I/O error, not usage)\n%s", err, exitFailure, out)
	}
	for _, bad := range [][]string{{"example.org", "s", "--algorithm", "dsa"}, {"example.org", "s", "--algorithm", "rsa", "--bits", "1024"}, {"not a domain", "s"}} {
		if out, err := exec.Command(umbraBin, append([]string{"dkim", "keygen", "--out", dir}, bad...)...).CombinedOutput(); err == nil {
			t.Errorf("keygen %v accepted:\n%s", bad, out)
		}
	}
}

// TestDKIMSignedEndToEnd: a message submitted to umbra over SMTP and
// relayed to a loopback sink arrives with one DKIM-Signature that
// verifies against the record `umbra dkim keygen` printed.
func TestDKIMSignedEndToEnd(t *testing.T) {
	dir := t.TempDir()
	_, record := keygen(t, dir, "example.org", "e2e")
	sinkAddr := freeAddr(t, "127.0.0.1")
	sink := startRecorder(t, sinkAddr)
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// key_file relative to the configuration's directory
	f.WriteString("dkim:\n  keys:\n    - {domain: example.org, selector: e2e, key_file: example.org.e2e.key}\n")
	f.Close()
	markInternal(t, cfg) // application servers: their mail is signed
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	d := startUmbra(t, cfg, listen)
	if ok, err := send(listen, "signed e2e"); !ok {
		t.Fatalf("send: %v", err)
	}
	got := waitBody(t, d, sink, "signed e2e")
	if n := strings.Count(strings.ToLower(got), "\r\ndkim-signature:") + boolInt(strings.HasPrefix(strings.ToLower(got), "dkim-signature:")); n != 1 {
		t.Fatalf("%d DKIM-Signature fields in the delivered copy:\n%s", n, got)
	}
	if strings.Contains(got, "X-Umbra-") {
		t.Fatalf("an umbra header left the organisation:\n%s", got)
	}
	lookup := func(name string) ([]string, error) {
		if strings.TrimSuffix(name, ".") == "e2e._domainkey.example.org" {
			return []string{record}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(got), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Fatalf("delivered copy does not verify: %v %+v\n%s", err, vs, got)
	}
	// …and the check is real: an altered copy fails.
	vs, _ = dkim.VerifyWithOptions(strings.NewReader(strings.Replace(got, "durable", "altered", 1)), &dkim.VerifyOptions{LookupTXT: lookup})
	if len(vs) != 1 || vs[0].Err == nil {
		t.Fatal("an altered copy verifies")
	}

	// A message that is header fields alone (no empty line, no body) is
	// stored with the empty line umbra puts there, so it leaves signed,
	// never "message sent unsigned" (rt40 edge check F3).
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.org", []string{"b@remote.example"},
		strings.NewReader("From: a@example.org\r\nTo: b@remote.example\r\nSubject: nosep e2e\r\n")); err != nil {
		t.Fatalf("send the header section alone: %v", err)
	}
	c.Quit()
	got = waitBody(t, d, sink, "nosep e2e")
	if !strings.HasSuffix(got, "Subject: nosep e2e\r\n\r\n") {
		t.Fatalf("the header section alone delivered without its empty line:\n%q", got)
	}
	vs, err = dkim.VerifyWithOptions(strings.NewReader(got), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Fatalf("the header section alone is not signed: %v %+v\n%s", err, vs, got)
	}
}

// TestDKIMReload: SIGHUP reads the signing keys again — a key added
// signs the next message; a key that cannot be read fails the reload
// and the running keys stay in force.
func TestDKIMReload(t *testing.T) {
	dir := t.TempDir()
	_, record := keygen(t, dir, "example.org", "r1")
	sinkAddr := freeAddr(t, "127.0.0.1")
	sink := startRecorder(t, sinkAddr)
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	markInternal(t, cfg)
	orig, _ := os.ReadFile(cfg)
	d := startUmbra(t, cfg, listen)
	lookup := func(name string) ([]string, error) {
		if strings.TrimSuffix(name, ".") == "r1._domainkey.example.org" {
			return []string{record}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	arrived := func(subject string) string {
		t.Helper()
		if ok, err := send(listen, subject); !ok {
			t.Fatalf("send: %v", err)
		}
		return waitBody(t, d, sink, subject)
	}
	signed := func(msg string) bool {
		vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
		return err == nil && len(vs) == 1 && vs[0].Err == nil
	}
	waitLog := func(substr string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(d.log)
			if strings.Count(string(b), substr) >= n {
				return
			}
			if time.Now().After(deadline) {
				d.dumpLog()
				t.Fatalf("no %q in the log", substr)
			}
		}
	}
	if m := arrived("before"); strings.Contains(m, "DKIM-Signature") {
		t.Fatal("signed without a key")
	}
	os.WriteFile(cfg, append(append([]byte{}, orig...), "dkim:\n  keys:\n    - {domain: example.org, selector: r1, key_file: example.org.r1.key}\n"...), 0o600)
	d.hup()
	waitLog("configuration reloaded", 1)
	if m := arrived("after reload"); !signed(m) {
		t.Fatalf("not signed after the reload added a key:\n%s", m)
	}
	os.WriteFile(cfg, append(append([]byte{}, orig...), "dkim:\n  keys:\n    - {domain: example.org, selector: r1, key_file: gone.key}\n"...), 0o600)
	d.hup()
	waitLog("reload failed", 1)
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "gone.key") {
		t.Fatal("the failed reload does not name the key file")
	}
	if m := arrived("after failed reload"); !signed(m) {
		t.Fatalf("the running key was dropped by a failed reload:\n%s", m)
	}
}

// TestARCSealedEndToEnd: a message that carries this server's
// Authentication-Results (its inbound checks ran) and is relayed out
// leaves with a DKIM signature and an ARC set over it, and dkimpy (an
// independent ARC implementation) passes the chain.
func TestARCSealedEndToEnd(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import dkim").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-dkim is not installed (.ci/run installs it): %v", err)
		}
		t.Skip("python3-dkim is not installed")
	}
	dir := t.TempDir()
	_, dkimRecord := keygen(t, dir, "example.org", "d1")
	_, arcRecord := keygen(t, dir, "example.org", "arc1", "--algorithm", "rsa")
	sinkAddr := freeAddr(t, "127.0.0.1")
	sink := startRecorder(t, sinkAddr)
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("dkim:\n  keys:\n    - {domain: example.org, selector: d1, key_file: example.org.d1.key}\n" +
		"  arc: {domain: example.org, selector: arc1, key_file: example.org.arc1.key, authserv_id: corp.e2e.test}\n") // the shared id, never a server name
	f.Close()
	// The client is a transport server of the organisation (an edge that
	// checked the message and wrote the shared id corp.e2e.test): only its
	// results are kept and sealed; the front door removes anyone else's
	// (TestForgedAuthResultsNotSealed). Its mail did not originate inside
	// the organisation, so it is sealed, not DKIM-signed.
	editConfig(t, cfg, "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n    externally_secured: true\n")
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	msg := "Authentication-Results: corp.e2e.test; spf=pass smtp.mailfrom=a@example.org; dkim=none; arc=none\r\n" +
		"From: a@example.org\r\nTo: b@remote.example\r\nSubject: forwarded e2e\r\n\r\nforwarded body\r\n"
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	got := waitBody(t, d, sink, "forwarded e2e")
	if !strings.HasPrefix(got, "ARC-Seal: i=1;") || !strings.Contains(got, "ARC-Authentication-Results: i=1; corp.e2e.test; spf=pass") {
		t.Fatalf("no ARC set on top:\n%s", got)
	}
	script := `
import sys, dkim
keys = {"d1._domainkey.example.org": sys.argv[2], "arc1._domainkey.example.org": sys.argv[3]}
def txt(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    v = keys.get(name.rstrip('.'))
    return v.encode() if v else None
msg = open(sys.argv[1], 'rb').read()
cv, _, reason = dkim.arc_verify(msg, dnsfunc=txt)
print(cv.decode(), dkim.verify(msg, dnsfunc=txt), reason)
`
	eml := filepath.Join(dir, "got.eml")
	os.WriteFile(eml, []byte(got), 0o600)
	out, err := exec.Command(py, "-c", script, eml, dkimRecord, arcRecord).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "pass False") {
		t.Fatalf("dkimpy on the delivered copy: %v %s\n%s", err, out, got)
	}
	os.WriteFile(eml, []byte(strings.Replace(got, "forwarded body", "altered body", 1)), 0o600)
	out, _ = exec.Command(py, "-c", script, eml, dkimRecord, arcRecord).CombinedOutput()
	if strings.HasPrefix(string(out), "pass") {
		t.Fatalf("dkimpy passes an altered copy: %s", out)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDKIMKeyErrorsFailConfigCheck: a key that cannot be used fails
// `umbra config check` and the start, naming the file and the reason —
// never the first delivery.
func TestDKIMKeyErrorsFailConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good, _ := keygen(t, dir, "example.org", "ok")
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	open := filepath.Join(dir, "open.key")
	data, _ := os.ReadFile(good)
	os.WriteFile(open, data, 0o644)
	os.Chmod(open, 0o644)
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.key")
	_, _ = keygen(t, dir, "example.org", "other")
	other, _ := os.ReadFile(filepath.Join(dir, "example.org.other.key"))
	os.WriteFile(two, append(append([]byte{}, data...), other...), 0o600)
	for _, tc := range []struct{ key, want string }{
		{fifo, "fifo.key is not a regular file (a FIFO)"}, // once hung config check for ever; now with its line
		{dir, "not a regular file"},
		{two, "two.key: more than one PEM block"},
		{filepath.Join(dir, "missing.key"), "missing.key: no such file or directory"},
		{garbage, "garbage.key: no PEM block"},
		{open, "lets every user read the key"},
	} {
		listen := freeAddr(t, "127.0.0.1")
		cfg := relayConfig(t, dir, listen, "127.0.0.1:9")
		f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("dkim:\n  keys:\n    - {domain: example.org, selector: s, key_file: " + tc.key + "}\n")
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), tc.want) {
			t.Errorf("config check with key %s: %v\n%s", tc.key, err, out)
		}
		out, err = exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve with key %s started or said something else: %v\n%s", tc.key, err, out)
		}
	}
}

// The operator runs keygen as root, the daemon runs as its own user: a
// key file that stayed root's would be one the daemon cannot read at its
// start or reload. So keygen gives the key the owner of the data
// directory of the configuration it finds (the daemon's user), mode
// 0600, as db compact and db restore give their files (rt58 F1).
func TestDKIMKeygenAsRootKeepsDaemonOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: keygen run as root for a daemon of another user")
	}
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(data, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	key, _ := keygen(t, keys, "example.org", "own1", "--config", cfg)
	ownedBy(t, key, nobody, nobody)
	// Without a configuration whose data directory is another user's
	// (none named, none installed), the key stays the runner's.
	key, _ = keygen(t, keys, "example.org", "own2", "--config", relayConfig(t, t.TempDir(), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")))
	ownedBy(t, key, 0, 0)
}
