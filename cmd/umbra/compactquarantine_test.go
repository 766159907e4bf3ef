package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS: umbra db compact --schema 3 of a database that holds quarantined
// messages says that their records are of a format a release of schema
// version 3 older than the quarantine cannot read (README, Quarantine:
// "release or delete the quarantine before running an older binary");
// --schema 4 needs no such word (every release of version 4 has the
// quarantine), nor does a database without quarantined mail (rt41 F4).
func TestDBCompactOlderSchemaNamesQuarantinedRecords(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.169"), reserveAddr(t, "127.0.0.169"))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(data, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr := queue.NewManager(store, noDelivery{}, queue.ManagerConfig{Hostname: "hub.e2e.test"})
	for i := 0; i < 2; i++ {
		m := &queue.Message{ID: store.NewID(time.Now()), From: "s@sender.test", Connector: "loopback", ClientIP: "127.0.0.9",
			Quarantine: fmt.Sprintf("spam score %d", 10+i), Rcpts: []queue.Recipient{{Addr: "x@remote.test"}}}
		if err := mgr.Submit(context.Background(), m, []byte("Subject: q\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	out, code := cli(t, cfg, "db", "compact", "--schema", "4")
	if code != 0 || strings.Contains(out, "quarantine") {
		t.Fatalf("db compact --schema 4: exit %d\n%s", code, out)
	}
	out, code = cli(t, cfg, "db", "compact", "--schema", "3")
	if code != 0 || !strings.Contains(out, "2 quarantined messages") || !strings.Contains(out, "release or delete them") {
		t.Fatalf("db compact --schema 3 of a database with quarantined mail: exit %d\n%s", code, out)
	}
}
