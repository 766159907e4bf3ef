package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/admin"
)

// OPS-1, OPS-3, OPS-5: the state of the last reload — when, its result,
// the parts a restart would refuse or change, umbra_config_restart_would_fail —
// was only in the metrics and the log: the admin socket's /v1/status and
// the web console's header said nothing of it, so an operator looking at
// either could not tell that the file on disk is not what runs.
func TestOPS1ReloadStateInStatusAndConsole(t *testing.T) {
	dir := t.TempDir()
	listen := opsAddr(t, "127.0.0.130")
	consoleAddr := opsAddr(t, "127.0.0.130")
	creds := filepath.Join(dir, "credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	sock := filepath.Join(dir, "admin.sock")
	write := func(maxFiles int) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.reloadstate.test, data_dir: %s, admin_socket: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
tracking: {max_files: %d}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), sock, maxFiles, consoleAddr, certFile, keyFile, submitConnector("in", listen,
			`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	}
	write(10)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c := admin.NewClient(sock)
	status := func() admin.Status {
		t.Helper()
		st, err := c.Status()
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		return st
	}
	st := status()
	if st.Reload == nil || st.Reload.Result != "none" || st.Reload.RestartWouldFail || len(st.Reload.Pending) != 0 || st.Reload.Time != nil {
		t.Fatalf("status after a start: reload %+v, want result none and nothing pending", st.Reload)
	}
	// hup sends SIGHUP and waits for the reload's state in the status.
	reloads := 0
	hup := func() admin.ReloadState {
		t.Helper()
		reloads++
		d.hup()
		var r admin.ReloadState
		waitCond(t, "the reload in the status", 10*time.Second, func() bool {
			st := status()
			if st.Reload != nil && st.Reload.Count == reloads {
				r = *st.Reload
				return true
			}
			return false
		})
		return r
	}
	// The console's header says the same, before any reload too:
	// no time (none was made), no year 1.
	cc := newConsoleClient(consoleAddr)
	if !cc.login(t, "alice", "alice-pw") {
		t.Fatal("console login refused")
	}
	header := func() string {
		t.Helper()
		res, err := cc.client.Get(cc.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		h, _, _ := strings.Cut(page, "</header>")
		return h
	}
	if h := header(); !strings.Contains(h, "no reload since") || strings.Contains(h, "0001") || strings.Contains(h, "never") {
		t.Errorf("console header before any reload:\n%s", h)
	}
	write(5) // tracking.max_files: only a restart applies it
	r := hup()
	if r.Result != "ok" || !r.RestartWouldFail || r.Time == nil || r.Time.IsZero() || !strings.Contains(strings.Join(r.Pending, ";"), "tracking.max_files") {
		t.Errorf("status after a reload with tracking.max_files changed: %+v; want ok, restart_would_fail, tracking.max_files pending", r)
	}

	if h := header(); !strings.Contains(h, `id="reload-state"`) || !strings.Contains(h, "restart would") || !strings.Contains(h, "tracking.max_files") {
		t.Errorf("console header after a reload leaving tracking.max_files to a restart does not say so:\n%s", h)
	}

	os.WriteFile(cfg, []byte("server: [\n"), 0o600)
	r = hup()
	if r.Result != "failed" || !r.RestartWouldFail || r.Error == "" {
		t.Errorf("status after a failed reload: %+v; want failed with its error, restart_would_fail", r)
	}
	if h := header(); !strings.Contains(h, "reload failed") {
		t.Errorf("console header after a failed reload does not say so:\n%s", h)
	}

	write(10)
	r = hup()
	if r.Result != "ok" || r.RestartWouldFail || len(r.Pending) != 0 || r.Error != "" {
		t.Errorf("status after a clean reload: %+v; want ok and nothing pending", r)
	}
	if h := header(); !strings.Contains(h, `id="reload-state"`) || strings.Contains(h, "restart would") {
		t.Errorf("console header after a clean reload:\n%s", h)
	}
}
