package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A backup cut short (an interrupted copy off the machine) is damaged to
// db verify (with and without --json) and db restore (with and without
// --force): exit 1 with the damaged text, never a crash (a Go runtime
// fault exits 2, which reads as an invalid configuration). A restore of
// a sound backup over a truncated queue.db — what a restore is for —
// replaces it and keeps it as queue.db.replaced-TIME.
func TestDBCommandsOnTruncatedFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := queue.Open(live, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		m := &queue.Message{ID: s.NewID(time.Now()), State: queue.Ready, From: "a@example.org",
			Rcpts: []queue.Recipient{{Addr: "b@example.net"}}, NextAttempt: time.Now().Add(time.Hour)}
		if err := s.Update(context.Background(), func(tx *queue.Tx) error {
			return tx.PutNew(m, []byte("From: a@example.org\r\n\r\n"+strings.Repeat("body line\r\n", 300)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	good, _ := os.ReadFile(backup)
	cut := filepath.Join(dir, "cut.db")
	for _, n := range []int{8192, 16384, len(good) / 2, len(good) - 4096} {
		os.WriteFile(cut, good[:n], 0o600)
		before, _ := os.ReadFile(live)
		if code, errOut := cliErr(t, cfg, "db", "verify", cut); code != exitFailure ||
			!strings.Contains(errOut, "is damaged") || !strings.Contains(errOut, "truncated") {
			t.Errorf("cut at %d: db verify: exit %d %q", n, code, errOut)
		}
		var ver struct {
			File  string
			Sound *bool
			Error string
		}
		if out, code := cli(t, cfg, "db", "verify", "--json", cut); code != exitFailure || json.Unmarshal([]byte(out), &ver) != nil ||
			ver.Sound == nil || *ver.Sound || ver.File != cut || !strings.Contains(ver.Error, "damaged") {
			t.Errorf("cut at %d: db verify --json: exit %d %q", n, code, out)
		}
		for _, args := range [][]string{{"db", "restore", cut}, {"db", "restore", "--force", cut}} {
			code, errOut := cliErr(t, cfg, args...)
			if code != exitFailure || !strings.Contains(errOut, "is damaged") || !strings.Contains(errOut, "truncated") {
				t.Errorf("cut at %d: %v: exit %d %q", n, args, code, errOut)
			}
		}
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Fatalf("cut at %d: the database changed", n)
		}
	}

	whole, _ := os.ReadFile(live)
	damaged := whole[:len(whole)/3]
	os.WriteFile(live, damaged, 0o600)
	if code, errOut := cliErr(t, cfg, "db", "compact"); code != exitFailure || !strings.Contains(errOut, "transport database is damaged") {
		t.Errorf("db compact of the truncated database: exit %d %q", code, errOut)
	}
	out, code := cli(t, cfg, "db", "restore", backup)
	if code != 0 || !strings.Contains(out, "kept as ") {
		t.Fatalf("db restore over the truncated database: exit %d %q", code, out)
	}
	kept := strings.TrimSpace(out[strings.Index(out, "kept as ")+len("kept as "):])
	if b, _ := os.ReadFile(kept); !bytes.Equal(b, damaged) {
		t.Errorf("%s is not the replaced, truncated file", kept)
	}
	if out, code := cli(t, cfg, "db", "compact"); code != 0 {
		t.Errorf("db compact of the restored database: exit %d %q", code, out)
	}
}
