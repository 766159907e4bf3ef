package smtp

import (
	"testing"
	"time"
)

// rt46 Finding 1: a primary's own probe (XSHADOW, then QUIT) completed
// here is a contact: the shadow verbs are told (ShadowAnswered), so no
// takeover of its copies comes before timeout × retries after it.
// XSHADOW alone is none (rt23 NEW-3), nor a connection dropped after it.
func TestCompletedShadowSessionIsAContact(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))

	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.conn.Close() // dropped, not completed
	time.Sleep(200 * time.Millisecond)
	if got := sh.answeredBy(); len(got) != 0 {
		t.Fatalf("a dropped shadow session counted as a contact: %v", got)
	}

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("QUIT", "221")
	deadline := time.Now().Add(10 * time.Second)
	for len(sh.answeredBy()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := sh.answeredBy(); len(got) != 1 || got[0] != "hub2" {
		t.Fatalf("peers whose completed shadow session counted: %v; want [hub2]", got)
	}
}
