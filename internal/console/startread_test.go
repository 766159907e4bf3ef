package console

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/admin"
	"umbra/internal/smtp"
)

// OPS-5: the daemon loads the console's credentials
// (consoleFiles: smtp.LoadCredentialsAt) and only then console.New
// reads the file's Version (identity, stat, digest). An account revoked
// in between (the file rewritten during the start: a config management
// run, an operator's edit) is never taken: New's version is of the new
// content, so every later look — and the Reread of each SIGHUP, which
// now takes a file only "when its content differs" from that version —
// finds the same content and keeps the accounts loaded before.
func TestOPS5AccountRevokedDuringStartStaysRevoked(t *testing.T) {
	dir := t.TempDir()
	opsHash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	leakHash, _ := bcrypt.GenerateFromPassword([]byte("leaked-pass"), bcrypt.MinCost)
	credFile := filepath.Join(dir, "credentials")
	withLeak := "ops:" + string(opsHash) + "\nleak:" + string(leakHash) + "\n"
	revoked := "ops:" + string(opsHash) + "\n"
	os.WriteFile(credFile, []byte(withLeak), 0o600)
	creds, err := smtp.LoadCredentials(credFile) // serve: consoleFiles
	if err != nil {
		t.Fatal(err)
	}
	// The leaked account revoked while the daemon starts (after its
	// load, before console.New).
	os.WriteFile(credFile, []byte(revoked), 0o600)

	log := slog.New(slog.DiscardHandler)
	adm, err := admin.Listen(filepath.Join(dir, "admin.sock"), &fakeQueue{}, nil, admin.Status{Server: "hub1.example.org"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Credentials: creds, CredentialsFile: credFile, API: adm.Handler(),
		Self: "hub1.example.org", Log: log})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h := &harness{t: t, s: s, credFile: credFile, base: "https://" + ln.Addr().String(), client: c}

	s.Reread()                          // SIGHUP: "re-reads at every successful SIGHUP"
	time.Sleep(2100 * time.Millisecond) // past RacyWindow: the stat vouches now
	s.Reread()
	if code, _ := h.login("leak", "leaked-pass"); code != http.StatusUnauthorized {
		t.Errorf("an account the file no longer holds (revoked during the start, two SIGHUPs since) logs in: %d, want %d", code, http.StatusUnauthorized)
	}
}
