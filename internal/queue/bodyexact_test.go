package queue

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func spoolContent(t *testing.T, s *Store, content []byte) Body {
	t.Helper()
	w, err := s.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A spool file that shrinks while it is read never passes for the whole
// content: the reader fails with ErrSpoolShort instead of ending (EOF),
// so no consumer can take the bytes it got for the message.
func TestBodyReaderFileShrinksWhileRead(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := bytes.Repeat([]byte("0123456789abcdef\r\n"), 20000) // 360 kB
	b := spoolContent(t, s, content)
	b, err = b.WithHead([]byte("Received: x\r\n"), 18)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 100000)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	path, _, _ := b.File()
	if err := os.Truncate(path, 200000); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("reader ended cleanly after %d bytes of %d: a shrunk spool file passed for the whole message", 100000+len(rest), b.Len())
	}
	if !errors.Is(err, ErrSpoolShort) || !errors.Is(err, ErrBodyUnreadable) {
		t.Fatalf("error %v is not ErrSpoolShort", err)
	}
	// Bytes and the header reader say the same.
	if _, err := b.Bytes(); !errors.Is(err, ErrSpoolShort) {
		t.Fatalf("Bytes on a short file: %v", err)
	}
	if err := b.checkSpool(); err == nil {
		t.Fatal("checkSpool passes a short file")
	}
}

// A file that grew (bytes appended by hand) yields exactly the recorded
// length, then EOF.
func TestBodyReaderStopsAtRecordedLength(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := bytes.Repeat([]byte("x"), 70000)
	b := spoolContent(t, s, content)
	path, _, _ := b.File()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("APPENDED\r\n.\r\nMAIL FROM:<x@y>\r\n")
	f.Close()
	r, err := b.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes (%v), want exactly the %d recorded", len(got), err, len(content))
	}
}

// The file removed while open: the open descriptor still reads (Unix);
// the file missing before the open fails the open.
func TestBodyReaderMissingFile(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := spoolContent(t, s, bytes.Repeat([]byte("y"), 1000))
	path, _, _ := b.File()
	os.Remove(path)
	if _, err := b.Reader(); !errors.Is(err, ErrBodyUnreadable) {
		t.Fatalf("Reader of a missing file: %v", err)
	}
}
