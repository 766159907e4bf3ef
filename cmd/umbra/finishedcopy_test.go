package main

import (
	"strings"
	"testing"
	"time"
)

// rt16a F1, cause 2 (SR-8, SR-11): umbra as a primary that finished a
// message (relayed it out) receives it again — the copy its shadow
// server took over while it was down, relayed back under the copy's own
// id, or that copy taken over again by a third server and relayed with
// the org id. It accepts it and drops the recipients it has done,
// delivering only those it has not, and owes the sender's copy its
// discard: the outside gets the message once.
func TestPrimaryDropsDoneRecipientsOfFinishedCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := shadowPeersHub(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sink := startRecorder(t, sinkAddr)

	open := func(server string) *rawSession { return openShadow(t, listen, server) }
	const org = "0123456789abcdef0123456789abcdef"
	send := func(s *rawSession, shadowID string, rcpts ...string) string {
		s.cmd("MAIL FROM:<a@example.org> XSHADOW="+shadowID, "250")
		for _, r := range rcpts {
			s.cmd("RCPT TO:<"+r+">", "250")
		}
		s.cmd("DATA", "354")
		r := s.cmd("X-Umbra-Org-Id: "+org+"\r\nSubject: finished\r\n\r\nonce\r\n.", "250")
		return r[len(r)-1]
	}
	empty := func() {
		t.Helper()
		waitCond(t, "the queue to empty", 20*time.Second, func() bool {
			out, code := cli(t, cfg, "queue", "list", "--json")
			return code == 0 && strings.TrimSpace(out) == "null"
		})
	}
	discards := func(s *rawSession, want string) {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got = s.cmd("XQUERYDISCARD 10", "250")
			if len(got) == 2 && got[1] == "250 "+want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("discard notifications: %v, want %s", got, want)
			}
		}
	}

	x := open("hub-x")
	send(x, "hubx-0001", "b@remote.example")
	waitArrived(t, sink, []string{"finished"}, d)
	empty()
	discards(x, "hubx-0001")

	// hub-x took its copy over while this server was down and relays it
	// back under the copy's id, after this server finished the original.
	if reply := send(x, "hubx-0001", "b@remote.example"); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("the copy sent back: %q", reply)
	}
	empty()
	discards(x, "hubx-0001") // its copy is settled at once
	time.Sleep(1500 * time.Millisecond)
	if n := sink.counts()["finished"]; n != 1 {
		t.Fatalf("the copy sent back by the shadow server reached the outside again: %d times in all, want once", n)
	}

	// A third server took that copy over in turn and relays it with the
	// org id, beside a recipient this server never had: only that one
	// goes out.
	y := open("hub-y")
	send(y, "huby-0001", "b@remote.example", "c@remote.example")
	empty()
	discards(y, "huby-0001")
	time.Sleep(1500 * time.Millisecond)
	if n := sink.counts()["finished"]; n != 2 {
		t.Fatalf("after the chained copy with one new recipient: %d deliveries in all, want 2 (b once, c once)", n)
	}
	// Each event is written after the commit the emptied queue already
	// showed: read until there are two (10 s at most), then that there
	// are no more.
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ = cli(t, cfg, "track", "--json", "--event", "duplicate-suppressed")
		if strings.Count(out, `"event": "duplicate-suppressed"`) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if strings.Count(out, `"event": "duplicate-suppressed"`) != 2 {
		t.Errorf("want two duplicate-suppressed events (b@remote.example twice), got:\n%s", out)
	}
}
