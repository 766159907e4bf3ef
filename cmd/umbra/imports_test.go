package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The import rules of the architecture: config and routing import no
// other umbra package; delivery, smtp and queue never import admin,
// metrics, tracking or cmd; only cmd/umbra wires everything; no package
// but queue imports bbolt; shadow is pure logic over interfaces.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "umbra/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string][]string{
		"umbra/internal/config":   {"umbra/"},
		"umbra/internal/routing":  {"umbra/"},
		"umbra/internal/clock":    {"umbra/"},
		"umbra/internal/mailbox":  {"umbra/"},
		"umbra/internal/header":   {"umbra/"},
		"umbra/internal/systemd":  {"umbra/"},
		"umbra/internal/queue":    {"umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking", "umbra/internal/config"},
		"umbra/internal/smtp":     {"umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking"},
		"umbra/internal/delivery": {"umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking"},
		// dumpster is policy over the queue's store: no protocol, no config.
		"umbra/internal/dumpster": {"umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking", "umbra/internal/config", "net"},
		// shadow is logic over interfaces: no store, no protocol, no network.
		"umbra/internal/shadow": {"umbra/internal/queue", "umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/config", "net"},
		// recipients is the directory interface and its sources: the
		// callout's client and cache are given to it as interfaces.
		"umbra/internal/recipients": {"umbra/", "net"},
		// resolver is the DNS client: it knows no configuration and no mail.
		"umbra/internal/resolver": {"umbra/internal/config", "umbra/internal/smtp", "umbra/internal/queue", "umbra/internal/delivery"},
		// connection filtering are checks of the edge chain: no store, no delivery.
		"umbra/internal/connfilter": {"umbra/internal/queue", "umbra/internal/delivery", "umbra/internal/metrics", "umbra/internal/admin"},
	}
	// The scheduler's split: queue keeps state and decides when and how
	// many — it speaks no protocol and opens no connection (it hands jobs
	// to a Deliverer); delivery speaks SMTP/LMTP and reports results — it
	// neither schedules (shadow timing, the dumpster) nor opens the store.
	for pkg, bad := range map[string][]string{
		"umbra/internal/queue":    {"umbra/internal/shadow", "umbra/internal/routing", "net", "crypto/tls", "github.com/emersion/go-smtp"},
		"umbra/internal/delivery": {"umbra/internal/shadow", "umbra/internal/dumpster"},
	} {
		forbidden[pkg] = append(forbidden[pkg], bad...)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			for _, bad := range forbidden[pkg] {
				if (imp == bad || strings.HasPrefix(imp, bad) && strings.HasSuffix(bad, "/") || strings.HasPrefix(imp, bad+"/")) && imp != pkg {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
			if imp == "go.etcd.io/bbolt" && pkg != "umbra/internal/queue" {
				t.Errorf("%s opens bbolt; only the queue owns the transport database", pkg)
			}
		}
	}
}
