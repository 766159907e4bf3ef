package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// rt41 F1 (SR-7): a message whose job only waits for its mailbox's LMTP
// turn (mailboxturn.go: another message to the same mailbox is in a
// transaction whose final reply the mailbox server keeps) runs none of
// umbra's code. Two messages to one mailbox, the server keeping the
// reply to the end of the data: one waits for that reply, the other
// for the turn. Two kill -9s while both wait (a third start counts the
// second) count no crash against either, and neither is parked in the
// poison queue.
func TestKill9TwiceWaitingForMailboxTurnCountsNoCrash(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.166"), freeAddr(t, "127.0.0.166")
	sink := &stallSink{stall: true, release: make(chan struct{}), reached: make(chan string, 16)}
	sink.r = &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	conns := make(chan struct{}, 64) // one per LMTP session opened
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		select {
		case conns <- struct{}{}:
		default:
		}
		return &stallSession{s: sink}, nil
	}))
	srv.Domain, srv.ErrorLog, srv.LMTP = "slow.test", nopLog{}, true
	ln := testsupport.Listen(t, sinkAddr)
	go srv.Serve(ln)
	t.Cleanup(func() { close(sink.release); srv.Close() })
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, "mailbox:\n  maildir: maildir\n", fmt.Sprintf("mailbox: {lmtp: %q}\n", sinkAddr))
	editConfig(t, cfg, "transport:\n", "transport:\n  data_timeout: 10m\n  poison_threshold: 2\n")
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		body := fmt.Sprintf("Subject: turn-%d\r\n\r\nwaits for its turn\r\n", i)
		if err := c.SendMail("a@example.org", []string{"x@example.test"}, strings.NewReader(body)); err != nil {
			t.Fatalf("message %d not acknowledged: %v", i, err)
		}
	}
	c.Quit()
	for run := 1; run <= 3; run++ {
		// This run: one message's data is in and its reply kept, and
		// both messages' jobs opened a session — the second waits for
		// the mailbox's turn on it.
		deadline := time.After(30 * time.Second)
		for body, sessions := false, 0; !body || sessions < 2; {
			select {
			case <-sink.reached:
				body = true
			case <-conns:
				sessions++
			case <-deadline:
				d.dumpLog()
				t.Fatalf("run %d: body in %v, %d LMTP sessions of 2", run, body, sessions)
			}
		}
		time.Sleep(300 * time.Millisecond) // the second session's LHLO answered: its job waits for the turn
		d.kill()
		for len(conns) > 0 {
			<-conns
		}
		for len(sink.reached) > 0 {
			<-sink.reached
		}
		if run < 3 {
			d = startUmbra(t, cfg, listen)
		}
	}
	// The third start's recovery counted the second kill; the third kill
	// is counted by no one here.
	wantNoCrashCounted(t, filepath.Join(dir, "data"), 2, false)
}
