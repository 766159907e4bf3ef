package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// OPS-2: umbra_shadow_discards_received_total counts "the
// shadow copies that primaries' discard notifications discarded here,
// each once" (README, Metrics). A notification the primary pushes at its
// stop (XDISCARD, shadow verbs 13) discards a copy here just as one
// fetched by XQUERYDISCARD does, and the primary counts it as sent
// (umbra_shadow_discards_sent_total, forgetSent): it must be counted as
// received here too. hub-a's own watch query may fetch the discard in
// hub-b's drain before the stop pushes it; the count is then that
// query's, and once as well.
func TestOPS2PushedDiscardCountedAsReceived(t *testing.T) {
	p := newShadowPair(t)
	metricsA := freeAddr(t, "127.0.0.1")
	b, err := os.ReadFile(p.cfgA)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.cfgA, []byte(strings.Replace(string(b), `metrics_listen: ""`, `metrics_listen: "`+metricsA+`"`, 1)), 0o600)

	r := &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	reached, answer := make(chan struct{}, 1), make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &gatedReplySession{slowReplySession{r: r, reached: reached}, answer}, nil
	}))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	ln := testsupport.Listen(t, p.sink)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	if reply := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: stop-push\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		hb.dumpLog()
		t.Fatal("the message never reached the next hop")
	}
	waitCond(t, "hub-a to hold the copy for hub-b", 10*time.Second, func() bool { s, _ := p.held(t, p.cfgA, "hub-b"); return s == 1 })
	before := metricValue(t, metricsA, "umbra_shadow_discards_received_total")
	hb.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, hb, "draining:", 1)
	close(answer)
	select {
	case <-hb.done:
		hb.done <- nil
	case <-time.After(60 * time.Second):
		hb.dumpLog()
		t.Fatal("hub-b did not stop after SIGTERM")
	}
	waitCond(t, "hub-a to drop the copy hub-b delivered in its drain", 10*time.Second, func() bool {
		s, _ := p.held(t, p.cfgA, "hub-b")
		return s == 0
	})
	// The discard came by the stop's push, or by hub-a's own query in
	// the drain before it (CI run 145): it is counted once either way.
	// Skipping the second case left the test checking nothing in most
	// runs. The query's count comes after the commit the held count
	// above already shows: wait for a count, then read it is one.
	log, _ := os.ReadFile(hb.log)
	how := "hub-b's stop pushed the discard"
	if !strings.Contains(string(log), "discard notifications handed to the shadow server") {
		how = "hub-a's query fetched the discard in hub-b's drain (the stop had none to push)"
	}
	t.Log(how)
	waitCond(t, "hub-a to count the discard received", 10*time.Second, func() bool {
		return metricValue(t, metricsA, "umbra_shadow_discards_received_total") > before
	})
	if got := metricValue(t, metricsA, "umbra_shadow_discards_received_total"); got-before != 1 {
		t.Fatalf("umbra_shadow_discards_received_total on hub-a went from %v to %v after %s, which dropped its one copy: want +1 (README: the copies discard notifications discarded here, each once)", before, got, how)
	}
}
