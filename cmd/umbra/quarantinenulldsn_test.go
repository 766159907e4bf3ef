package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// queue quarantine delete --dsn of a message with the null sender
// deletes it and sends no DSN (none goes to <>), and says so, in text
// and --json, as message remove --ndr does: it said only "deleted", as
// if the sender had been told.
func TestQ4QuarantineDeleteDSNOfNullSenderSaysNoDSN(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.151"), reserveAddr(t, "127.0.0.151")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(data, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr := queue.NewManager(store, noDelivery{}, queue.ManagerConfig{Hostname: "hub.e2e.test"})
	var ids []string
	for _, from := range []string{"", "", "s@sender.test"} {
		m := &queue.Message{ID: store.NewID(time.Now()), From: from, Connector: "loopback", ClientIP: "127.0.0.9",
			Quarantine: "spam score 12", Rcpts: []queue.Recipient{{Addr: "x@remote.test"}}}
		if err := mgr.Submit(context.Background(), m, []byte("Received: from x\r\nSubject: q\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID.String())
	}
	store.Close()
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	out, code := cli(t, cfg, "queue", "quarantine", "delete", "--dsn", ids[0], ids[2])
	if code != 0 || !strings.Contains(out, ids[0]+" deleted") || !strings.Contains(out, "no DSN was sent") || !strings.Contains(out, "null sender") ||
		strings.Count(out, "no DSN was sent") != 1 {
		t.Errorf("quarantine delete --dsn: exit %d\n%s\nwant it to say no DSN was sent for %s alone (null sender)", code, out, ids[0])
	}
	out, code = cli(t, cfg, "queue", "quarantine", "delete", "--dsn", "--json", ids[1])
	var res struct {
		Done  []string          `json:"done"`
		NoDSN map[string]string `json:"no_dsn"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Done) != 1 || !strings.Contains(res.NoDSN[ids[1]], "null sender") {
		t.Errorf("quarantine delete --dsn --json: exit %d, %v, no_dsn %v\n%s", code, err, res.NoDSN, out)
	}
}
