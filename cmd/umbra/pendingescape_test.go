package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/admin"
)

// addr39k is a free TCP address on ip, a port of 9000-9999.
func addr39k(t testing.TB, ip string) string {
	t.Helper()
	start := rand.IntN(1000)
	for i := range 1000 {
		addr := net.JoinHostPort(ip, strconv.Itoa(9000+(start+i)%1000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port in 9000-9999 on %s", ip)
	return ""
}

// OPS-1, OPS-3: GET /v1/status's reload.pending (and reload.error)
// show a control character of a value once: the loader writes the
// value quoted (%q, "a\x00b"), and the admin API's rule for every
// answer (admin.TextBytes) escaped that text again, its backslash
// doubled ("a\\x00b", a literal backslash to the reader, the console's
// header showing it so). The entries are in the configuration's text
// form already (configText), which the API writes as it is.
func TestOPS1ReloadPendingShowsAControlCharacterOnce(t *testing.T) {
	dir := t.TempDir()
	listen := addr39k(t, "127.0.0.141")
	consoleAddr := addr39k(t, "127.0.0.141")
	creds := filepath.Join(dir, "console-credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	sock := filepath.Join(dir, "admin.sock")
	write := func(banner string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.pendingesc.test, data_dir: %s, admin_socket: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
  credentials_file: %s
%s`, filepath.Join(dir, "data"), sock, consoleAddr, certFile, keyFile, creds, submitConnector("in", listen, "banner: "+banner))), 0o600)
	}
	write("hello")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	// The console's credentials file (applied at a restart only) with a
	// name holding a NUL: a pending refusal, the name quoted.
	os.WriteFile(creds, []byte("a\x00b:not-a-hash\n"), 0o600)
	d.hup()
	c := admin.NewClient(sock)
	var st admin.Status
	waitCond(t, "the reload in the status", 20*time.Second, func() bool {
		s, err := c.Status()
		if err == nil && s.Reload != nil && s.Reload.Count == 1 {
			st = s
			return true
		}
		return false
	})
	pending := strings.Join(st.Reload.Pending, "\n")
	if !strings.Contains(pending, `"a\x00b"`) || strings.Contains(pending, `\\x`) {
		t.Errorf("reload.pending %q: want the name shown \"a\\x00b\", escaped once", st.Reload.Pending)
	}
	// A failed reload's error alike.
	write(`"x\0y"`)
	d.hup()
	waitCond(t, "the failed reload in the status", 20*time.Second, func() bool {
		s, err := c.Status()
		if err == nil && s.Reload != nil && s.Reload.Count == 2 {
			st = s
			return true
		}
		return false
	})
	if st.Reload.Result != "failed" || !strings.Contains(st.Reload.Error, `banner "x\x00y"`) || strings.Contains(st.Reload.Error, `\\x`) {
		t.Errorf("reload after a banner with a NUL: %q %q, want failed, banner \"x\\x00y\" escaped once", st.Reload.Result, st.Reload.Error)
	}
}
