package main

import (
	"encoding/json"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// rt27 F3: a message delivered during the SIGTERM drain has its discard
// notification fetched by its shadow server before the primary stops:
// the drain keeps the shadow server's watch session open while the
// delivery finishes (here the next hop answers the final dot half a
// second after the signal), so the copy goes and the takeover that follows the stop
// (the primary stays down past the takeover delay, 3 s here) finds
// nothing to send again.
func TestDrainDeliveredDiscardReachesShadowServer(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	r := &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	reached, answer := make(chan struct{}, 1), make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &gatedReplySession{slowReplySession{r: r, reached: reached}, answer}, nil
	}))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	ln := testsupport.Listen(t, sinkAddr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: drain-discard\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	select {
	case <-reached: // the next hop has it; its 250 comes in the drain
	case <-time.After(30 * time.Second):
		ha.dumpLog()
		t.Fatal("the message never reached the next hop")
	}
	// hub-b watches hub-a (it was pushed a copy): its session is open.
	waitCond(t, "hub-b's watch session to hub-a", 10e9, func() bool {
		out, _ := cli(t, cfgB, "queue", "destinations", "--json")
		var ds []struct {
			Name     string
			Running  int
			Failures int `json:"failures_in_a_row"`
		}
		json.Unmarshal([]byte(out), &ds)
		for _, d := range ds {
			if d.Name == "shadow-watch:hub-a" {
				return d.Running == 1 && d.Failures == 0 // running, no failed try
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond) // its long poll is in
	ha.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, ha, "draining:", 1) // the drain runs (a 500 ms sleep could end before it began on a loaded machine)
	close(answer)
	select {
	case <-ha.done:
		ha.done <- nil
	case <-time.After(60 * time.Second):
		ha.dumpLog()
		t.Fatal("hub-a did not stop after SIGTERM")
	}
	// The discard was fetched before the stop: hub-b lets the copy go
	// in its own time (a loaded machine may take more than a second or
	// two). A copy it kept is taken over once the takeover delay is
	// past, and the count below finds it sent again.
	p := &shadowPair{}
	s, pending := -1, -1
	for deadline := time.Now().Add(15 * time.Second); s != 0 || pending != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			hb.dumpLog()
			ha.dumpLog()
			t.Fatalf("hub-b still holds %d copies (%d taken over) of a message hub-a delivered during its drain", s, pending)
		}
		s, pending = p.held(t, cfgB, "hub-a")
	}
	time.Sleep(6 * time.Second) // past the takeover delay: a copy left would be sent again now
	if n := r.counts()["drain-discard"]; n != 1 {
		hb.dumpLog()
		t.Fatalf("the next hop got the message %d times, want once", n)
	}
}

// gatedReplySession answers the final dot once answer is closed.
type gatedReplySession struct {
	slowReplySession
	answer chan struct{}
}

func (s *gatedReplySession) Data(rd io.Reader) error {
	err := s.slowReplySession.Data(rd)
	<-s.answer
	return err
}
