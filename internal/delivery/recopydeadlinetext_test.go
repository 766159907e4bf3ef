package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-17, OPS (rdshadow45, sibling of shadow45 item 3): a made-again
// pass whose push ran out of its session's command_timeout before the
// try's bound (receiptTry) is a timed-out try, as one cut by the bound
// is — and its failure said so in the bound's words: "hub-b: not
// answered within 5s" for a push given up after 300 ms. The operator
// reading the pass's failure (the WARN of a message held here only, the
// pass's log) looked for a server silent for the bound and at a bound
// that never ran out. The failure names the timeout that ended it.
func TestSR17RecopyFailureNamesTheSessionTimeoutThatEndedIt(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 5 * time.Second // the bound, well past the session's deadline
	b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.192", 16000, 50), testsupport.HubScript{HangAtMail: true})
	r, q, m := recopyWaitingTimeout(t, "7", 4, 300*time.Millisecond,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()})
	start := time.Now()
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if took := time.Since(start); took >= receiptTry {
		t.Fatalf("the pass took %v: the try's bound ran out first, the test proves nothing", took)
	}
	if srv != "" || err == nil {
		t.Fatalf("made again on %q (%v); want no server: hub-b hangs", srv, err)
	}
	if b.Mails.Load() == 0 {
		t.Fatal("hub-b never read the push's MAIL: the test proves nothing")
	}
	if !r.hungLately("hub-b") {
		t.Fatal("hub-b not marked hung: the push was not a timed-out try, the test proves nothing")
	}
	if strings.Contains(err.Error(), "within "+receiptTry.String()) {
		t.Errorf("error %q: names the try's bound (%v), which never ran out", err, receiptTry)
	}
	if !strings.Contains(err.Error(), "hub-b: not answered within the session's") {
		t.Errorf("error %q: want hub-b's push named as cut by its session's timeout", err)
	}
}
