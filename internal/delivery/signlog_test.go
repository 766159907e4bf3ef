package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/signing"
)

// The "message signed" debug line costs nothing with debug off (its
// arguments, the message id's text among them, are not built) and says
// the same as before with debug on.
func TestSignedLineOnlyWithDebug(t *testing.T) {
	m := &queue.Message{ID: 0x2a, Internal: true}
	res := signing.Result{DKIM: "example.test", ARC: 1}
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if n := testing.AllocsPerRun(100, func() { d.noteSigning(m, res, nil) }); n != 0 {
		t.Errorf("%v allocations per signed message with debug off", n)
	}
	d.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.noteSigning(m, res, nil)
	if want := `msg="message signed" msg_id=` + m.ID.String() + " dkim_domain=example.test arc_instance=1"; !strings.Contains(buf.String(), want) {
		t.Errorf("debug: %q, want %q", buf.String(), want)
	}
}
