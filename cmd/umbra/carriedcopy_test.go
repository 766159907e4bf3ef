package main

import (
	"strings"
	"testing"
	"time"
)

// The crash-duplicate window (SR-8, SR-11, SR-15): this hub holds a
// message hub-x relayed to it in a shadow session (hub-x keeps copy
// hubx-0001) and cannot deliver it yet (the next hop is down). hub-x
// died before it had the discard of an earlier hop's copy; that copy,
// taken over, comes back relayed by hub-y in a shadow session under its
// own id (huby-0001), same org id and recipient. It merges into the
// original (250, nothing more queued) and hub-y's copy is carried: no
// discard for it while the original owes the recipient. The hub is
// killed -9 and restarted: the carried copy survives. The next hop comes
// up: the message goes out once, and hub-y is then owed its discard as
// hub-x is. Before, the copy was queued beside the original and went out
// twice.
func TestTakenOverCopyUnderAnotherIDDeliveredOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := shadowPeersHub(t, dir, listen, sinkAddr)
	// Retried only when told: the original waits Ready (never in
	// delivery) when the copy arrives.
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]")
	d := startUmbra(t, cfg, listen)

	open := func(server string) *rawSession { return openShadow(t, listen, server) }
	const org = "00112233445566778899aabbccddeeff"
	send := func(s *rawSession, shadowID string) {
		t.Helper()
		s.cmd("MAIL FROM:<a@example.org> XSHADOW="+shadowID, "250")
		s.cmd("RCPT TO:<b@remote.example>", "250")
		s.cmd("DATA", "354")
		s.cmd("X-Umbra-Org-Id: "+org+"\r\nSubject: carried\r\n\r\nonce\r\n.", "250")
	}
	owed := func(server string) []string {
		t.Helper()
		s := open(server)
		defer s.cmd("QUIT", "221")
		got := s.cmd("XQUERYDISCARD 10", "250")
		var ids []string
		for _, l := range got {
			if id := strings.TrimPrefix(strings.TrimPrefix(l, "250-"), "250 "); l != got[0] && id != "" {
				ids = append(ids, id)
			}
		}
		return ids
	}
	count := func() int {
		t.Helper()
		out, _ := cli(t, cfg, "queue", "list", "--json")
		return strings.Count(out, `"message_count": 1`) + 2*strings.Count(out, `"message_count": 2`)
	}

	x := open("hub-x")
	send(x, "hubx-0001")
	x.cmd("QUIT", "221")
	waitCond(t, "the original's first attempt to fail", 10*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--json", "--event", "defer")
		return strings.Contains(out, `"event": "defer"`)
	})
	y := open("hub-y")
	send(y, "huby-0001")
	y.cmd("QUIT", "221")
	if n := count(); n != 1 {
		d.dumpLog()
		t.Fatalf("%d messages queued after the copy under another id; want the original only", n)
	}
	if ids := owed("hub-y"); len(ids) != 0 {
		t.Fatalf("hub-y owed %q while the original still owes the recipient", ids)
	}

	d.kill()
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sink := startRecorder(t, sinkAddr)
	if out, code := cli(t, cfg, "queue", "flush"); code != 0 {
		t.Fatalf("flush: %s", out)
	}
	waitArrived(t, sink, []string{"carried"}, d)
	waitCond(t, "the queue to empty", 20*time.Second, func() bool { return count() == 0 })
	time.Sleep(1500 * time.Millisecond)
	if n := sink.counts()["carried"]; n != 1 {
		t.Fatalf("the message went out %d times, want once", n)
	}
	if ids := owed("hub-y"); len(ids) != 1 || ids[0] != "huby-0001" {
		t.Fatalf("hub-y owed %q after the original was delivered; want its copy huby-0001", ids)
	}
	if ids := owed("hub-x"); len(ids) != 1 || ids[0] != "hubx-0001" {
		t.Fatalf("hub-x owed %q after the original was delivered; want hubx-0001", ids)
	}
}
