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

// consoleClient is a browser of the console at addr: its cookies kept,
// redirects not followed.
type consoleClient struct {
	base   string
	client *http.Client
}

func newConsoleClient(addr string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{base: "https://" + addr, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login posts the login form; true when the console let the user in.
func (c *consoleClient) login(t *testing.T, user, pw string) bool {
	t.Helper()
	res, err := c.client.Get(c.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	tok := regexp.MustCompile(`name="login_token" value="([^"]+)"`).FindStringSubmatch(string(page))
	if tok == nil {
		t.Fatalf("login page:\n%s", page)
	}
	req, _ := http.NewRequest("POST", c.base+"/login", strings.NewReader(url.Values{"login_token": {tok[1]},
		"user": {user}, "password": {pw}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	res, err = c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/"
}

// inSession reports whether the session the client holds still opens
// the console's front page (not sent to /login).
func (c *consoleClient) inSession(t *testing.T) bool {
	t.Helper()
	res, err := c.client.Get(c.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// consoleCredsDaemon writes a hub with the console on, its credentials
// file given by consoleLines (console.credentials_file, or nothing) and
// the connector's auth.credentials_file connCreds; write rewrites the
// configuration.
type consoleCredsDaemon struct {
	dir, cfg, listen, console string
	cert, key                 string
}

func newConsoleCredsDaemon(t *testing.T) *consoleCredsDaemon {
	dir := t.TempDir()
	h := &consoleCredsDaemon{dir: dir, cfg: filepath.Join(dir, "hub.yaml"),
		listen: freeAddr(t, "127.0.0.161"), console: freeAddr(t, "127.0.0.161")}
	h.cert, h.key = writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	return h
}

func (h *consoleCredsDaemon) write(t *testing.T, consoleCreds, connCreds string) {
	t.Helper()
	extra := ""
	if consoleCreds != "" {
		extra = fmt.Sprintf("  credentials_file: %q\n", consoleCreds)
	}
	if err := os.WriteFile(h.cfg, []byte(fmt.Sprintf(`server: {name: hub.consfix.test, data_dir: %q, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %q
  key_file: %q
%s%s`, filepath.Join(h.dir, "data"), h.console, h.cert, h.key, extra, submitConnector("in", h.listen,
		fmt.Sprintf(`auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}`, connCreds)))), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hup sends SIGHUP and waits for the reload's outcome line after the
// ones counted before.
func hupAndWait(t *testing.T, d *daemon) {
	t.Helper()
	count := func() int {
		b, _ := os.ReadFile(d.log)
		s := string(b)
		return strings.Count(s, "reload failed") + strings.Count(s, "msg=\"configuration reloaded\"") +
			strings.Count(s, "apply only after a restart")
	}
	before := count()
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool { return count() > before })
}

func credLine(t *testing.T, user, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h) + "\n"
}

// OPS-5, OPS-1 (rt28c F1): a reload that moves console.credentials_file itself
// (not derived from a connector) has the console read the new file: an
// account the new file does not hold is refused and its session ends,
// one only in the new file logs in, and the log says the file moved.
// Also the way back: console.credentials_file taken out, the console
// reads the connector's file it falls back to.
func TestReloadMovesExplicitConsoleCredentialsFile(t *testing.T) {
	h := newConsoleCredsDaemon(t)
	smtpCreds := filepath.Join(h.dir, "smtp-users")
	oldCreds, newCreds := filepath.Join(h.dir, "console-users"), filepath.Join(h.dir, "console-users.new")
	os.WriteFile(smtpCreds, []byte(credLine(t, "relay", "relay-pw")+credLine(t, "dora", "dora-pw")), 0o600)
	os.WriteFile(oldCreds, []byte(credLine(t, "ops", "ops-pw")+credLine(t, "bob", "bob-pw")), 0o600)
	os.WriteFile(newCreds, []byte(credLine(t, "bob", "bob-pw")+credLine(t, "carol", "carol-pw")), 0o600)
	h.write(t, oldCreds, smtpCreds)
	d := startUmbra(t, h.cfg, h.listen)
	d.dumpLogIfFailed()
	ops := newConsoleClient(h.console)
	if !ops.login(t, "ops", "ops-pw") {
		t.Fatal("ops does not log in to the console at start")
	}
	h.write(t, newCreds, smtpCreds) // ops revoked: the console reads another file
	hupAndWait(t, d)
	if ops.inSession(t) {
		t.Errorf("ops's session goes on after a reload moved console.credentials_file to a file without ops")
	}
	if newConsoleClient(h.console).login(t, "ops", "ops-pw") {
		t.Errorf("ops, not in the console.credentials_file a reload moved to, logs in")
	}
	if !newConsoleClient(h.console).login(t, "carol", "carol-pw") {
		t.Errorf("carol, only in the console.credentials_file a reload moved to, cannot log in")
	}
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "console.credentials_file moved by a reload") {
		t.Errorf("the log does not say the console's credentials file moved:\n%s", b)
	}
	// Taken out: the console falls back to the connector's file.
	h.write(t, "", smtpCreds)
	hupAndWait(t, d)
	if newConsoleClient(h.console).login(t, "carol", "carol-pw") {
		t.Errorf("carol logs in after console.credentials_file was taken out (the connector's file, which the console falls back to, has no carol)")
	}
	if !newConsoleClient(h.console).login(t, "dora", "dora-pw") {
		t.Errorf("dora, in the connector's auth.credentials_file the console falls back to, cannot log in")
	}
}

// OPS-5, OPS-1 (rt28c F2): a password changed in the console's credentials file
// to another hash of the same length, with the mtime put back (cp -p,
// rsync -t), is seen: the old password is refused and the session of
// the account ends, at the next request and at a SIGHUP — as SMTP AUTH,
// which reads its file at each reload. The same for a symlink swapped
// to another file with the same size and mtime (a Nix store).
func TestConsoleSeesCredentialsChangeWithSameSizeAndMtime(t *testing.T) {
	for _, tc := range []struct {
		name string
		hup  bool
		link bool
	}{{"in place, next request", false, false}, {"in place, SIGHUP", true, false}, {"symlink swapped", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newConsoleCredsDaemon(t)
			creds := filepath.Join(h.dir, "users")
			old := credLine(t, "ops", "ops-pw")
			changed := credLine(t, "ops", "new-pw")
			if len(old) != len(changed) {
				t.Fatalf("hashes of different lengths: %q %q", old, changed)
			}
			mtime := time.Unix(1, 0)
			path := creds
			if tc.link {
				a, b := filepath.Join(h.dir, "store-a"), filepath.Join(h.dir, "store-b")
				os.WriteFile(a, []byte(old), 0o600)
				os.WriteFile(b, []byte(changed), 0o600)
				os.Chtimes(a, mtime, mtime)
				os.Chtimes(b, mtime, mtime)
				os.Symlink(a, creds)
			} else {
				os.WriteFile(creds, []byte(old), 0o600)
				os.Chtimes(creds, mtime, mtime)
			}
			h.write(t, path, path)
			d := startUmbra(t, h.cfg, h.listen)
			d.dumpLogIfFailed()
			ops := newConsoleClient(h.console)
			if !ops.login(t, "ops", "ops-pw") {
				t.Fatal("ops does not log in to the console at start")
			}
			if tc.link {
				tmp := creds + ".tmp"
				os.Symlink(filepath.Join(h.dir, "store-b"), tmp)
				if err := os.Rename(tmp, creds); err != nil {
					t.Fatal(err)
				}
			} else {
				f, err := os.OpenFile(creds, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte(changed), 0)
				f.Close()
				os.Chtimes(creds, mtime, mtime)
			}
			if tc.hup {
				hupAndWait(t, d)
				if r := authPlain(t, h.listen, "ops", "ops-pw"); strings.HasPrefix(r, "235") {
					t.Fatalf("SMTP AUTH takes the old password after the reload: %q", r)
				}
			}
			if ops.inSession(t) {
				t.Errorf("ops's session goes on after its password was changed (same size, same mtime)")
			}
			if newConsoleClient(h.console).login(t, "ops", "ops-pw") {
				t.Errorf("the old password of ops logs in after it was changed (same size, same mtime)")
			}
			if !newConsoleClient(h.console).login(t, "ops", "new-pw") {
				t.Errorf("the new password of ops does not log in")
			}
		})
	}
}
