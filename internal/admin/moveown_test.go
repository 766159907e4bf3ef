package admin

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// OPS-3 (rt28e F4): Move to a path that names the socket this server
// serves — its directory through a symbolic link (data_dir: blink,
// blink -> data) — is no move and no error. Before, the socket there
// answered, and Move refused it as "in use by another process": its own.
func TestMoveToOwnSocketThroughLinkIsNoMove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "admin.sock")
	os.MkdirAll(filepath.Dir(path), 0o750)
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	if err := os.Symlink("data", filepath.Join(dir, "blink")); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(filepath.Join(dir, "blink", "admin.sock")); err != nil {
		t.Fatalf("Move to its own socket through a link: %v, want no error", err)
	}
	if got := s.Path(); got != path {
		t.Fatalf("socket at %s after the move to itself, want %s (unchanged)", got, path)
	}
	if _, err := NewClient(path).Status(); err != nil {
		t.Fatalf("status at the socket: %v", err)
	}
}
