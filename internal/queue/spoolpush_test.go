package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenSweepsPushLinks: the hard link a push of a copy on receipt
// reads (<spool file>.push, internal/smtp receipt.go) is left behind by
// a crash during the push. The sweep at Open removes it — whether its
// file is still named by a record or not — and the named file and its
// content stay.
func TestOpenSweepsPushLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := bigContent(100 << 10)
	kept := spooled(t, s, content)
	gone := spooled(t, s, bigContent(100<<10))
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, kept) }); err != nil {
		t.Fatal(err)
	}
	kp, _, _ := kept.File()
	gp, _, _ := gone.File()
	for _, p := range []string{kp, gp} {
		if err := os.Link(p, p+".push"); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(gp) // its message was delivered; the push's link stayed
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if files := spoolFiles(t, s); len(files) != 1 || files[0] != filepath.Base(kp) {
		t.Fatalf("spool directory after Open: %v; want only %s", files, filepath.Base(kp))
	}
	var got []byte
	s.View(func(tx *Tx) error { var err error; got, err = tx.Body(m.ID); return err })
	if !bytes.Equal(got, content) {
		t.Fatal("the named body did not survive the sweep of its push link")
	}
}
