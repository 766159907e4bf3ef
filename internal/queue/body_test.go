package queue

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSpoolFileBody(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 10000)
	for i := 0; i < len(content); i += 4096 {
		if _, err := w.Write(content[i:min(i+4096, len(content))]); err != nil {
			t.Fatal(err)
		}
	}
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !b.Spooled() || b.Len() != int64(len(content)) {
		t.Fatalf("spooled %v, len %d", b.Spooled(), b.Len())
	}
	got, err := b.Bytes()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Bytes: %v, equal %v", err, bytes.Equal(got, content))
	}
	// A new head replacing the first 25 bytes, then 30 more.
	h, err := b.WithHead([]byte("Received: x\r\n"), 25)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("Received: x\r\n"), content[25:]...)
	r, err := h.Reader()
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, want) || h.Len() != int64(len(want)) {
		t.Fatalf("WithHead content differs (len %d want %d)", h.Len(), len(want))
	}
	h2, err := h.WithHead([]byte("A: b\r\n"), 13+30)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = h2.Bytes()
	if want2 := append([]byte("A: b\r\n"), content[55:]...); !bytes.Equal(got, want2) {
		t.Fatal("second WithHead content differs")
	}
	if _, err := b.WithHead(nil, b.Len()+1); err == nil {
		t.Fatal("skip beyond the content accepted")
	}
	w2, _ := s.NewSpool()
	w2.Write([]byte("x"))
	p := w2.path
	w2.Abort()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("aborted spool file still there: %v", err)
	}
	m := MemBody([]byte("hello"))
	if m.Spooled() || m.Len() != 5 {
		t.Fatal("memory body")
	}
	if mb, _ := m.WithHead([]byte("X"), 1); string(mb.Head()) != "Xello" {
		t.Fatalf("memory WithHead: %q", mb.Head())
	}
}

// Delivery reads a spooled body's header section (from its head, where
// the receiving server keeps it) and makes it the head of the body it
// sends (WithHead): that is the body as it is, and a header section of
// up to max_header_size is not copied again for every delivery.
func TestWithHeadOwnStartNoCopy(t *testing.T) {
	s := openTest(t)
	content := bigContent(512 << 10)
	b := spooled(t, s, content)
	i := bytes.Index(content, []byte("\r\n\r\n")) + 4
	head := append([]byte("Received: from test\r\n"), bytes.Repeat([]byte("X-Filler: ffffffffffffffffffff\r\n"), 20000)...)
	head = append(head, content[:i]...)
	b, err := b.WithHead(head, int64(i))
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := b.ReadHeaderSection(1 << 20)
	if err != nil || len(hdr) != len(head) {
		t.Fatalf("header section: %d bytes, want %d: %v", len(hdr), len(head), err)
	}
	var nb Body
	if allocs := testing.AllocsPerRun(10, func() { nb, err = b.WithHead(hdr, int64(len(hdr))) }); allocs != 0 || err != nil {
		t.Errorf("WithHead with the body's own header section allocated %v times (a copy of %d bytes): %v", allocs, len(hdr), err)
	}
	rd, err := nb.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if want := append(bytes.Clone(head), content[i:]...); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the body differs (%d bytes, want %d): %v", len(got), len(want), err)
	}
}
