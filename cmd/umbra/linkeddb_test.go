package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-3 (rt30c F4): with queue.db a symbolic link to a database
// elsewhere (serve opens it through the link), umbra db compact turned
// the link into a file in the data directory and left the full database
// at the link's target, saying nothing — put the link back, and serve
// sent its 5 messages a second time; umbra db restore (also with
// --discard-newer) kept no queue.db.replaced-TIME and named none. Both
// refuse it, exit 1, naming the link, its target and the way to run
// them, and change nothing.
func TestOPS3DbCommandsRefuseALinkedDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := queue.Open(live, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func() {
		m := &queue.Message{ID: s.NewID(time.Now()), State: queue.Ready, From: "a@example.org",
			Rcpts: []queue.Recipient{{Addr: "b@example.net"}}, NextAttempt: time.Now().Add(time.Hour)}
		if err := s.Update(context.Background(), func(tx *queue.Tx) error {
			return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nqueued\r\n"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	put() // beyond the backup: what a restore would leave behind
	s.Close()
	target := filepath.Join(dir, "elsewhere", "queue.db")
	os.MkdirAll(filepath.Dir(target), 0o700)
	if err := os.Rename(live, target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, live); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(target)
	names := func() string {
		ents, _ := os.ReadDir(filepath.Dir(live))
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return strings.Join(n, " ")
	}
	was := names()
	for _, args := range [][]string{{"db", "compact"}, {"db", "restore", backup}, {"db", "restore", "--discard-newer", backup}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != exitFailure || !strings.Contains(errOut, live+" is a symbolic link to "+target) ||
			!strings.Contains(errOut, "Nothing was changed") || !strings.Contains(errOut, "mv "+target+" "+live) {
			t.Errorf("%v on a linked queue.db: exit %d %q", args, code, errOut)
		}
		if got, err := os.Readlink(live); err != nil || got != target {
			t.Errorf("%v: queue.db is no longer the link: %q, %v", args, got, err)
		}
		if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
			t.Errorf("%v changed the database the link leads to", args)
		}
		if now := names(); now != was {
			t.Errorf("%v changed the data directory: %q, was %q", args, now, was)
		}
	}
}

// OPS-3 (rt30c F3): a data directory replaced after a db command's
// rename: the command says where it was done and that the path leads
// elsewhere, exit 1, not "restored … as DATA/queue.db".
func TestOPS3DirReplacedAfterTheRenameIsSaid(t *testing.T) {
	at, kept, err := dirReplacedAfter("restore", "/srv/data", "/srv/data.moved", "/srv/data/queue.db", "/srv/data/queue.db.replaced-X")
	if at != "/srv/data.moved/queue.db" || kept != "/srv/data.moved/queue.db.replaced-X" || err == nil ||
		!strings.Contains(err.Error(), "now at /srv/data.moved") || !strings.Contains(err.Error(), "/srv/data now leads elsewhere") {
		t.Errorf("dirReplacedAfter: %q %q %v", at, kept, err)
	}
	at, _, err = dirReplacedAfter("compaction", "/srv/data", "", "/srv/data/queue.db", "")
	if strings.Contains(at, "/srv/data/queue.db") || err == nil || !strings.Contains(err.Error(), "was replaced while the compaction ran") {
		t.Errorf("dirReplacedAfter, where not known: %q %v", at, err)
	}
}
