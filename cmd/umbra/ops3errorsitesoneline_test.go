package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// mainStderrOf is what main writes on standard error for err (main.go).
func mainStderrOf(err error) string {
	inner := err
	if ee, ok := err.(*exitError); ok {
		inner = ee.err
	}
	if isConfigError(inner) || errors.As(inner, new(*configShownError)) {
		return "umbra: " + errorText(err) + "\n"
	}
	return "umbra: " + textSafe(errorText(err)) + "\n"
}

func assertNoForgedLine(t *testing.T, site string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", site)
	}
	out := mainStderrOf(err)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("%s: a path's newline forges a line on stderr:\n%s", site, out)
			return
		}
	}
}

// OPS-3: each site that names a path in its refusal, as it builds its
// error, then as main writes it: a newline of a path the operator gave
// (or the daemon's socket) must not start a line of its own.
func TestOPS3ErrorSitesNameAPathOnOneLine(t *testing.T) {
	tmp := t.TempDir()

	t.Run("daemonFile", func(t *testing.T) {
		bad := filepath.Join(tmp, "bad.yaml")
		os.WriteFile(bad, []byte("server:\n  banner: [\n"), 0o644)
		_, err := daemonFile(admin.Status{ConfigFile: bad}, "/run/umbra/a\nFAKE: the daemon is fine")
		assertNoForgedLine(t, "daemonFile", err)
	})
	t.Run("prepareRestoreDir via restoreDirRefusal", func(t *testing.T) {
		real := filepath.Join(tmp, "real")
		os.Mkdir(real, 0o755)
		link := filepath.Join(tmp, "l\nFAKE: restored")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		_, err := prepareRestoreDir(filepath.Join(link, "data"), "")
		if err == nil {
			t.Skip("a symlinked data directory was not refused")
		}
		assertNoForgedLine(t, "prepareRestoreDir", restoreDirRefusal(err, filepath.Join(link, "data"), "backup.db", ""))
	})
	t.Run("waitForHolder", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := waitForHolder(ctx, slog.New(slog.DiscardHandler), "/var/lib/u\nFAKE: started/queue.db")(42, "umbra db compact")
		assertNoForgedLine(t, "waitForHolder", err)
	})
	t.Run("dirReplacedAfter escaped once", func(t *testing.T) {
		_, _, err := dirReplacedAfter("restore", "/srv/d\nX", "/srv/m", "/srv/d\nX/queue.db", "")
		if got := errorText(err); !strings.Contains(got, `/srv/d\x0aX was replaced`) {
			t.Errorf("dirReplacedAfter: %q, want the data directory named /srv/d\\x0aX, escaped once", got)
		}
	})
	t.Run("socketIsDirectory", func(t *testing.T) {
		d := filepath.Join(tmp, "sd\nFAKE: a socket")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		assertNoForgedLine(t, "socketIsDirectory", socketIsDirectory(d))
	})
	t.Run("shownErr over the admin client's refusal", func(t *testing.T) {
		sock := filepath.Join(tmp, "c\nFAKE.sock")
		_, cerr := admin.NewClient(sock).Queues()
		got := errorText(shownErr(cerr, "backup.db")) // db backup, message export: a refusal not the daemon's
		if !strings.Contains(got, `c\x0aFAKE.sock`) || strings.Contains(got, `c\\x0aFAKE`) {
			t.Errorf("%q, want the socket named c\\x0aFAKE.sock, escaped once", got)
		}
	})
}
