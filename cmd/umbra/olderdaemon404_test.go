package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
)

// OPS-3 (rr25 F5): route explain tells a daemon older than GET /v1/mailboxdb by
// its bare 404 (route.go: "a bare 404 from a daemon older than the
// endpoint", ae.Msg == ""), and then asks the directory built from the
// files. sigsock24's doBody fills an empty error text in ("answered
// \"404 Not Found\" without umbra's error text (is it another program's
// socket?)"), so that 404 is taken for "the daemon's directory assigns
// none": the fallback and its stderr line are gone.
func TestRouteExplainOlderDaemonBare404(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mux := http.NewServeMux() // an older daemon: no /v1/mailboxdb
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	go http.Serve(ln, mux)
	c := admin.NewClient(sock)
	_, _, err = c.MailboxDatabase("")
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Msg != "" ||
		!strings.Contains(err.Error(), "without umbra's error text") || !strings.Contains(err.Error(), "older") {
		t.Errorf("an older daemon's bare 404: %#v (%v)", err, err)
	}
	cfg := &config.Config{}
	cfg.LDAP.URL = "ldap://127.0.0.1:1"
	cfg.LDAP.DatabaseAttribute = "msExchHomeMDB"
	cmd := &cobra.Command{}
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	func() {
		defer func() { recover() }()
		explainDatabases(cmd, c, nil, cfg)
	}()
	if !strings.Contains(stderr.String(), "a release before GET /v1/mailboxdb") {
		t.Errorf("an older daemon's bare 404 is not told apart any more: stderr %q", stderr.String())
	}
}
