package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// rt19e F4 (SR-6, SR-7): hub-a holds a message whose copy on receipt
// hub-b keeps; its way out (the sink) is down, and hub-a is killed -9.
// hub-b takes the copy over after its failed heartbeats; the sink comes
// back and refuses the recipient (550 5.1.1): hub-b fails it and sends
// the sender its failure DSN. hub-a returns with its database: its
// original of that recipient would meet the same refusal and send the
// sender a second failure DSN. Its start asks hub-b (XQUERYTAKENDONE)
// before the first delivery and drops the recipient finished there,
// without a DSN: the sender gets one failure DSN, not two.
func TestReturningPrimaryDropsRecipientFailedOnTakeover(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", false)
	ha, hb := o.start(t)
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: twice\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	ha.kill()
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	sink := startRefusingSink(t, o.sink, "x@remote.example")
	waitCond(t, "hub-b's failure DSN to reach the sender", 60*time.Second, func() bool { return len(sink.to("a@example.org")) == 1 })
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })

	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a's queue to empty", 60*time.Second, func() bool {
		q := p.queued(t, o.cfgA)
		n := 0
		for _, c := range q {
			n += c
		}
		return n == 0
	})
	time.Sleep(2 * time.Second) // a second DSN on its way would land now
	if got := sink.to("a@example.org"); len(got) != 1 {
		t.Fatalf("the sender got %d failure DSNs for x@remote.example, want 1", len(got))
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, `"event": "finished-elsewhere"`) {
		t.Errorf("hub-a's tracking log has no finished-elsewhere event: %s", out)
	}
	if b, _ := os.ReadFile(ha.log); !bytes.Contains(b, []byte("recipient finished by the shadow server that took the copy over")) {
		t.Error("hub-a's log does not say the recipient was finished by hub-b")
	}
	_ = hb
}

// rt19e F4, the delay DSN: as above, but the sink stays down. hub-b,
// having taken the copy over, sends the sender the delay DSN
// (delay_notification 3 s) while hub-a is away; hub-a returns with its
// database, gets the copy back (still waiting) and hears that the delay
// was reported: its original makes no second delay DSN.
func TestReturningPrimarySendsNoSecondDelayDSN(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", false)
	for _, cfg := range []string{o.cfgA, o.cfgB} {
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte("shadow_heartbeat_retry_count: 3}"), []byte("shadow_heartbeat_retry_count: 3, delay_notification: 3s}"), 1)
		if !bytes.Contains(b, []byte("delay_notification: 3s")) {
			t.Fatalf("%s: no transport line to extend", cfg)
		}
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ha, _ := o.start(t)
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: delayed\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	ha.kill()
	dsns := func(cfg string) int {
		out, _ := cli(t, cfg, "track", "--json", "--event", "dsn")
		return strings.Count(out, `"event": "dsn"`)
	}
	if n := dsns(o.cfgA); n != 0 {
		t.Fatalf("hub-a made %d DSNs before it was killed, want none", n)
	}
	waitCond(t, "hub-b to send the delay DSN of the copy it took over", 60*time.Second, func() bool { return dsns(o.cfgB) == 1 })

	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a to try its original again", 30*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "track", "--json", "--event", "defer")
		return strings.Count(out, `"event": "defer"`) >= 2
	})
	time.Sleep(1500 * time.Millisecond)
	if n := dsns(o.cfgA); n != 0 {
		t.Fatalf("hub-a made %d delay DSNs after hub-b had sent one, want none", n)
	}
	if n := dsns(o.cfgB); n != 1 {
		t.Fatalf("hub-b made %d DSNs, want its one delay DSN", n)
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, `"event": "finished-elsewhere"`) {
		t.Errorf("hub-a's tracking log has no finished-elsewhere event for the delay DSN: %s", out)
	}
}

// rt20f F3: as TestReturningPrimaryDropsRecipientFailedOnTakeover, but
// the sink — the smart host of connector "out", no server of the
// topology — takes the message when it comes back: hub-b relays the copy
// it took over out of the organisation and notes it, as a relay by MX
// is. hub-a returns with its database and hears it (XQUERYTAKENDONE): it
// does not send its original through the sink again.
func TestReturningPrimaryDropsRecipientRelayedThroughSmartHost(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", false)
	ha, _ := o.start(t)
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: out once\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	ha.kill()
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	sink := startRecorder(t, o.sink)
	waitCond(t, "hub-b to relay the copy through the smart host", 60*time.Second, func() bool { return sink.counts()["out once"] == 1 })
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })

	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a's queue to empty", 60*time.Second, func() bool {
		n := 0
		for _, c := range p.queued(t, o.cfgA) {
			n += c
		}
		return n == 0
	})
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	if n := sink.counts()["out once"]; n != 1 {
		t.Fatalf("the smart host got the message %d times, want once", n)
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, `"event": "finished-elsewhere"`) {
		t.Errorf("hub-a's tracking log has no finished-elsewhere event: %s", out)
	}
}
