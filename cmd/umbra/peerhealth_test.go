package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// rt23 NEW-3: hub-b is down when hub-a receives a message, so hub-a's
// copy on receipt fails and marks hub-b unresponsive (queue destinations
// shows server:hub-b). hub-b comes back; nothing is sent any more (a
// quiet pair): hub-a's bounded re-probe of the servers it marked finds
// hub-b answering and the rows go.
func TestQuietPeerMarkClearedWhenItAnswers(t *testing.T) {
	a, b, _, cfgA, _, cfgB := receiptOrgReject(t, "prefer-remote", false)
	ha := startUmbra(t, cfgA, a)
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: quiet\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "no shadow copy") {
		ha.dumpLog()
		t.Fatalf("reply %q: want 250 without a copy (hub-b is down)", reply)
	}
	marked := func() []string {
		out, _ := cli(t, cfgA, "queue", "destinations", "--json")
		var ds []struct{ Name, State string }
		json.Unmarshal([]byte(out), &ds)
		var rows []string
		for _, d := range ds {
			if strings.HasPrefix(d.Name, "server:") {
				rows = append(rows, d.Name+" "+d.State)
			}
		}
		return rows
	}
	waitCond(t, "server:hub-b marked unresponsive on hub-a", 30e9, func() bool { return len(marked()) > 0 })
	startUmbra(t, cfgB, b)
	waitCond(t, "hub-a to find hub-b answering", 30e9, func() bool { return len(marked()) == 0 })
}
