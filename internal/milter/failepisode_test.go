package milter

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// A milter that fails for every message is told to the operator at WARN
// once per episode — the first failure after it last answered —, and
// its recovery at INFO: the per-message notes go to the front door's
// paced refusal log at INFO (TestMilterFailureNotedThroughRefusalLog),
// and a milter down for every message must not be visible only to an
// operator who reads INFO lines or the metric. Three messages fail,
// two are judged, three fail again: two WARN lines, one recovery line.
func TestMilterFailureEpisodeWarnedOnce(t *testing.T) {
	var n atomic.Int32
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		if !optneg(r, c, offeredActions, onlyEOM) {
			return
		}
		k := n.Add(1)
		if !untilEOB(r) {
			return
		}
		if k == 4 || k == 5 {
			c.Write(appendPacket(nil, repAccept, nil))
			untilEOB(r)
		}
		// else the connection drops: no reply to the end of the message
	})
	var logs syncBuffer
	s := startMTAObserved(t, &fakeQueue{}, milterConf(addr, ""), nil, 0, 0, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for i := range 8 {
		d := dial(t, s)
		d.cmd("EHLO client.test", "250")
		want := "451 4.7.1"
		if i == 3 || i == 4 {
			want = "250"
		}
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, want) {
			t.Fatalf("message %d: end of data %q, want %s", i+1, got, want)
		}
		d.cmd("QUIT", "221")
	}
	s.Shutdown(t.Context())
	out := logs.String()
	var warned, again int
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, "level=WARN") && strings.Contains(l, `msg="milter failing`):
			warned++
			if !strings.Contains(l, "reason=io") || !strings.Contains(l, "stage=eom") || !strings.Contains(l, "on_failure=tempfail") {
				t.Errorf("episode line: %s\nwant reason=io, stage=eom, on_failure=tempfail", l)
			}
		case strings.Contains(l, `msg="milter answering again"`):
			again++
			if !strings.Contains(l, "failures=3") {
				t.Errorf("recovery line: %s\nwant failures=3", l)
			}
		}
	}
	if warned != 2 || again != 1 {
		t.Errorf("%d WARN episode lines and %d recovery lines, want 2 and 1:\n%s", warned, again, out)
	}
}
