package milter

import (
	"log/slog"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"
)

// rt19 fixc F4 sibling: a milter that does not answer in time is logged
// with the time in words ("no reply within 200ms"), so an operator tells
// a slow milter from a broken connection.
func TestMilterTimeoutSaidInWords(t *testing.T) {
	s := &script{block: make(chan struct{}), mods: func(m gomilter.Modifier) error { return nil }}
	var logs syncBuffer
	q := &fakeQueue{}
	d := dial(t, startMTAObserved(t, q, milterConf(startMilter(t, s), ", eom_timeout: 200ms"), nil, 0, 0,
		slog.New(slog.NewTextHandler(&logs, nil)), nil))
	d.cmd("EHLO client.test", "250")
	if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "451 4.7.1") {
		t.Fatalf("end of data %q", got)
	}
	out := logs.String()
	if !strings.Contains(out, "reason=milter_timeout") || !strings.Contains(out, "no reply within 200ms") {
		t.Fatalf("log:\n%s", out)
	}
}
