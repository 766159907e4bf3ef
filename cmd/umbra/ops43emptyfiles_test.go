package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// OPS-43 item 6: a receive connector's tls.cert_file and key_file
// written "" turn its TLS off; config check and the start
// (configWarnings) say so at their lines, not leaving the feature
// silently off. The keys left out say nothing.
func TestOPS43ConfigCheckSaysEmptyFileSettingIsOff(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	text := "server:\n  name: hub.e2e.test\n  data_dir: data\naccepted_domains:\n  - domain: example.test\n    type: internal_relay\n    recipient_validation: off\n" +
		"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.154:8427\"]\n    tls:\n      cert_file: \"\"\n      key_file: \"\"\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	ws := strings.Join(configWarnings(context.Background(), cfg, nil, nil, noDNS{}), "\n")
	for _, want := range []string{
		p + `:12: warning: receive_connectors[0].tls.cert_file is "": no certificate: TLS is off on this connector (no STARTTLS offered)`,
		p + `:13: warning: receive_connectors[0].tls.key_file is "": no key: TLS is off on this connector (no STARTTLS offered)`,
	} {
		if !strings.Contains(ws, want) {
			t.Errorf("configuration warnings:\n%s\nwant %s", ws, want)
		}
	}
	text = strings.Replace(text, "    tls:\n      cert_file: \"\"\n      key_file: \"\"\n", "", 1)
	os.WriteFile(p, []byte(text), 0o600)
	if cfg, err = config.Load(p); err != nil {
		t.Fatal(err)
	}
	if ws := strings.Join(configWarnings(context.Background(), cfg, nil, nil, noDNS{}), "\n"); strings.Contains(ws, "is \"\"") {
		t.Errorf("keys left out warned of:\n%s", ws)
	}
}
