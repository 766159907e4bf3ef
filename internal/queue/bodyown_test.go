package queue

import (
	"bytes"
	"path/filepath"
	"testing"
)

// WithOwnHead gives the same content as WithHead, keeping the head it is
// handed (no copy) where the file part starts past it, and falling back
// to WithHead where the skip cuts into an in-memory head.
func TestWithOwnHead(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 1000)
	w.Write(content)
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		base Body
		skip int64
	}{{b, 25}, {b, 0}, {b, int64(len(content))}} {
		head := []byte("Received: own\r\n")
		own, err := c.base.WithOwnHead(head, c.skip)
		if err != nil {
			t.Fatal(err)
		}
		copied, _ := c.base.WithHead(head, c.skip)
		g1, err1 := own.Bytes()
		g2, err2 := copied.Bytes()
		if err1 != nil || err2 != nil || !bytes.Equal(g1, g2) || own.Len() != copied.Len() {
			t.Fatalf("skip %d: WithOwnHead %q… (%v) differs from WithHead (%v)", c.skip, g1[:20], err1, err2)
		}
		if &own.Head()[0] != &head[0] {
			t.Fatalf("skip %d: the head was copied", c.skip)
		}
	}
	// A body with an in-memory head: skip inside it falls back to WithHead.
	h, _ := b.WithHead([]byte("A: b\r\n"), 10)
	own, err := h.WithOwnHead([]byte("C: d\r\n"), 3)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := own.Bytes()
	if want := append([]byte("C: d\r\nb\r\n"), content[10:]...); !bytes.Equal(got, want) {
		t.Fatalf("fallback content %q…", got[:20])
	}
	if _, err := b.WithOwnHead(nil, int64(len(content))+1); err == nil {
		t.Fatal("a skip past the end was taken")
	}
}
