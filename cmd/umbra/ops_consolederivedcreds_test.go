package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// OPS-1 (reread of opsfix27): the console, with no
// console.credentials_file, reads the receive connector's
// auth.credentials_file (config.ConsoleCredentials), at the path it had
// at start. A reload that points the connector at another file (alice's
// leaked password revoked by a new file without her) applies it to SMTP
// AUTH, while the console goes on reading the old file, where alice
// still logs in — and the reload names no setting that applies only
// after a restart, though the README says a derived key that moved is
// named (console.credentials_file, not set: derived from …).
func TestReloadNamesConsoleCredentialsDerivedFromConnector(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.216")
	oldCreds, newCreds := filepath.Join(dir, "credentials"), filepath.Join(dir, "credentials.new")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	bob, _ := bcrypt.GenerateFromPassword([]byte("bob-pw"), bcrypt.MinCost)
	os.WriteFile(oldCreds, []byte("alice:"+string(alice)+"\nbob:"+string(bob)+"\n"), 0o600)
	os.WriteFile(newCreds, []byte("bob:"+string(bob)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	consoleAddr := freeAddr(t, "127.0.0.216")
	write := func(creds string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.revoke.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), consoleAddr, certFile, keyFile, submitConnector("in", listen,
			`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	}
	write(oldCreds)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	write(newCreds) // alice revoked: the connector reads another file
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed") || strings.Contains(string(b), "msg=\"configuration reloaded\"") ||
			strings.Contains(string(b), "apply only after a restart")
	})
	time.Sleep(200 * time.Millisecond)
	if r := authPlain(t, listen, "alice", "alice-pw"); strings.HasPrefix(r, "235") {
		t.Fatalf("the reload was not applied to SMTP AUTH: %q", r)
	}
	// alice, revoked, logs in to the console (its file as at start).
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	baseURL := "https://" + consoleAddr
	res, err := client.Get(baseURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	tok := regexp.MustCompile(`name="login_token" value="([^"]+)"`).FindStringSubmatch(string(page))
	if tok == nil {
		t.Fatalf("login page:\n%s", page)
	}
	req, _ := http.NewRequest("POST", baseURL+"/login", strings.NewReader(url.Values{"login_token": {tok[1]},
		"user": {"alice"}, "password": {"alice-pw"}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", baseURL)
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/" {
			t.Errorf("alice, revoked by the reload, logs in to the web console: %s -> %s", res.Status, res.Header.Get("Location"))
		}
	}
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "console.credentials_file") {
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "reload") {
				lines = append(lines, l)
			}
		}
		t.Errorf("the console still reads %s (alice logs in there), and the reload does not say so:\n%s", oldCreds, strings.Join(lines, "\n"))
	}
}
