package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// A queue name or message id in a refusal is written by the one rule
// for bytes from outside, once: the byte 0xe9 as \xe9, the text \xe9 as
// \\xe9, a control character as itself (the CLI and the console escape
// it as \u001b where they show it) — not Go-quoted and then escaped
// again, which would read as other text.
func TestRefusalNamesEscapedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(path, &operatorQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	name := "x\x1b[2J\xe9\\xe9\u202e"
	shown := "x\\x1b[2J\\xe9\\\\xe9\u202e" // ESC written as its byte (rt47 F3), once
	_, err = c.QueueAction(name, "suspend", "")
	if want := `no queue "` + shown + `"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("queue suspend: %q, want %q", err, want)
	}
	_, err = c.Message(name)
	if want := `message id "` + shown + `": want 16 hex digits`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("message show: %q, want %q", err, want)
	}
}
