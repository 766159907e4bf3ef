package console

import (
	"strings"
	"testing"
)

// OPS-43 item 4 (sibling): a loopback console answers to localhost in
// every spelling the name has — LOCALHOST, and localhost. with its
// final dot, which a browser sends as typed — as to localhost; a
// foreign name stays refused.
func TestOPS43LoopbackConsoleAnswersEveryLocalhostSpelling(t *testing.T) {
	h := newHarness(t)
	port := strings.Split(h.base, ":")[2]
	for _, host := range []string{"localhost", "LOCALHOST", "localhost.", "LocalHost."} {
		if res, _ := h.do("GET", "/login", nil, map[string]string{"Host": host + ":" + port}); res.StatusCode != 200 {
			t.Errorf("Host %s:%s on a loopback console: %d, want 200", host, port, res.StatusCode)
		}
	}
	if res, _ := h.do("GET", "/login", nil, map[string]string{"Host": "localhost..:" + port}); res.StatusCode == 200 {
		t.Errorf("Host localhost..:%s answered 200, want it refused", port)
	}
}
