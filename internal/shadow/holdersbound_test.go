package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// SR-17: a pass makes at most maxRecopyPass copies again; the messages it
// did not reach are not copies that "could not be made again" (rt41 F5:
// a WARN with err=<nil> for 4500 messages after a restored primary came
// back, every one of them made again by the next passes). Only a
// failed copy is warned of, with its error.
func TestHoldersPassBoundIsNoFailure(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{}}
	for id := range uint64(maxRecopyPass + 100) {
		st.single = append(st.single, id+1)
	}
	cp := &fakeCopier{store: st}
	var logBuf bytes.Buffer
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if left := h.Pass(context.Background()); left != 100 || len(cp.made) != maxRecopyPass {
		t.Fatalf("left %d, made %d; want %d made and 100 left to the next pass", left, len(cp.made), maxRecopyPass)
	}
	if strings.Contains(logBuf.String(), "could not be made") || strings.Contains(logBuf.String(), "err=<nil>") ||
		!strings.Contains(logBuf.String(), "level=INFO") || !strings.Contains(logBuf.String(), "next pass") {
		t.Fatalf("a pass bounded by maxRecopyPass logs:\n%s", logBuf.String())
	}
	logBuf.Reset()
	if left := h.Pass(context.Background()); left != 0 {
		t.Fatalf("second pass: left %d", left)
	}
	if strings.Contains(logBuf.String(), "level=WARN") {
		t.Fatalf("second pass warns:\n%s", logBuf.String())
	}
	// A copy that fails is warned of, with its error.
	st.single, cp.down = []uint64{1}, true
	logBuf.Reset()
	h.Pass(context.Background())
	if !strings.Contains(logBuf.String(), "level=WARN") || !strings.Contains(logBuf.String(), "no shadow server took the copy") {
		t.Fatalf("a failed copy is not warned of with its error:\n%s", logBuf.String())
	}
}
