package smtp

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// Version 18 (W-2, W-4, SR-15; rt20a F4): a client that says CODES at
// XSHADOW gets an enhanced status code on the XSHADOW reply and on every
// line of the shadow verbs' lists (XQUERYDISCARD, XQUERYHELD,
// XQUERYDROPPED); a session that did not say it — every client of 17 and
// below — gets exactly the replies of 17, and the client of 18 says it
// and reads the lists alike.
func TestShadowVerbsCodesVersion18(t *testing.T) {
	sh := &delayNoteShadow{heldNoteShadow: &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{
		handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}}, dropped: map[string][]string{}}}}},
		delayed: map[string][]string{}}
	sh.held = map[string]bool{"a-1": true}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	db := sh.DatabaseID()
	session := func(xshadow string) *dialog {
		d := dial(t, s, "")
		d.expect("220")
		if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW "+strconv.Itoa(NameVersion)) { // 18 and after (a queue without BusyTeller: 20)
			t.Fatalf("XSHADOW %d not advertised:\n%s", NameVersion, ehlo)
		}
		d.cmd(authHub2, "235")
		return d
	}
	lists := func(d *dialog) (string, string, string) {
		sh.droppedShadow.mu.Lock()
		sh.dropped["hub2"] = []string{"d-1", "d-2"}
		sh.droppedShadow.mu.Unlock()
		sh.partialShadow.notes["hub2"] = []string{"n-1", "n-2"}
		discard := d.cmd("XQUERYDISCARD 5", "250")
		d.cmd("NOOP", "250") // the notifications told are forgotten
		return discard, d.cmd("XQUERYHELD a-1 b-2 c-3", "250"), d.cmd("XQUERYDROPPED 5", "250")
	}

	// Today's replies, byte for byte, to a session that did not say CODES.
	for _, x := range []string{"XSHADOW hub2", "XSHADOW hub2 MARK"} {
		d := session(x)
		got := d.cmd(x, "250")
		want := "250 " + db
		if strings.HasSuffix(x, "MARK") {
			want += " MARK=1"
		}
		if got != want {
			t.Fatalf("%s answered %q, want %q (version 17's)", x, got, want)
		}
		discard, held, dropped := lists(d)
		if discard != "250-2.0.0 2 discard notifications\n250-n-1\n250 n-2" && discard != "250-2.0.0 2 discard notifications MARK=1\n250-n-1\n250 n-2" {
			t.Fatalf("XQUERYDISCARD without CODES:\n%s", discard)
		}
		if held != "250-2.0.0 2 of 3 finished\n250-b-2\n250 c-3" {
			t.Fatalf("XQUERYHELD without CODES:\n%s", held)
		}
		if dropped != "250-2.0.0 2 dropped copies\n250-d-1\n250 d-2" {
			t.Fatalf("XQUERYDROPPED without CODES:\n%s", dropped)
		}
		d.cmd("QUIT", "221")
	}

	// CODES: every line of every success carries 2.0.0.
	for _, x := range []string{"XSHADOW hub2 CODES", "XSHADOW hub2 MARK codes"} {
		d := session(x)
		got := d.cmd(x, "250")
		want := "250 2.0.0 " + db
		if strings.Contains(x, "MARK") {
			want += " MARK=1"
		}
		if got != want {
			t.Fatalf("%s answered %q, want %q", x, got, want)
		}
		discard, held, dropped := lists(d)
		for _, r := range []string{discard, held, dropped} {
			for _, l := range strings.Split(r, "\n") {
				if m := enhancedLine.FindStringSubmatch(l); m == nil || m[1] != m[2] {
					t.Errorf("%s: line %q has no enhanced status code", x, l)
				}
			}
		}
		if held != "250-2.0.0 2 of 3 finished\n250-2.0.0 b-2\n250 2.0.0 c-3" {
			t.Fatalf("XQUERYHELD with CODES:\n%s", held)
		}
		d.cmd("QUIT", "221")
	}
	d := session("")
	d.cmd("XSHADOW hub2 CODES CODES", "501 5.5.4")
	d.cmd("XSHADOW hub2 CODES MARK", "501 5.5.4")
	d.cmd("QUIT", "221")

	// The client of 18 says CODES and reads every list as before.
	c := clientFor(t, s)
	got, err := c.Shadow("hub2")
	if err != nil || got != db {
		t.Fatalf("Shadow: %q, %v; want %q", got, err, db)
	}
	if c.ShadowVersion < 18 || !c.codes {
		t.Fatalf("client speaks version %d (codes %v), want 18 or after with codes", c.ShadowVersion, c.codes)
	}
	sh.partialShadow.notes["hub2"] = []string{partialCopyID}
	if ids, err := c.QueryDiscard(5); err != nil || !slices.Equal(ids, []string{partialCopyID}) {
		t.Fatalf("QueryDiscard: %q, %v", ids, err)
	}
	if done, err := c.QueryHeld([]string{"a-1", "b-2"}); err != nil || !slices.Equal(done, []string{"b-2"}) {
		t.Fatalf("QueryHeld: %q, %v", done, err)
	}
	sh.droppedShadow.mu.Lock()
	sh.dropped["hub2"] = []string{"d-1", queue.DroppedEvery}
	sh.droppedShadow.mu.Unlock()
	if ids, err := c.QueryDropped(5); err != nil || !slices.Equal(ids, []string{"d-1", queue.DroppedEvery}) {
		t.Fatalf("QueryDropped: %q, %v", ids, err)
	}

	// A batch of copies (version 6): its per-copy lines carry the code
	// too, and the client reads each copy's outcome as before.
	body := []byte("Subject: c\r\n\r\nbody\r\n")
	good, bad := batchMsg("a@example.org", "x@elsewhere.org"), batchMsg("b@example.org", "y@elsewhere.org")
	bad.OrgID = ""
	var recs [][]byte
	for _, m := range []*queue.Message{good, bad} {
		rec, ok := c.CopyRecord(m, body)
		if !ok {
			t.Fatal("cannot batch")
		}
		recs = append(recs, rec)
	}
	errs, err := c.PushBatch(recs, "dbA")
	if err != nil || len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Fatalf("batch with CODES: %v, %v; want the first kept, the second refused", errs, err)
	}
	for _, codes := range []bool{false, true} {
		r := batchReply([]*gosmtp.SMTPError{nil, {Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "no"}}, codes)
		lines := strings.Split(r.Message, "\n")
		for _, l := range lines[:len(lines)-1] { // go-smtp puts the code on the last
			if got := strings.HasPrefix(l, "2.0.0 COPY "); got != codes {
				t.Errorf("batch reply line %q (codes %v)", l, codes)
			}
		}
	}
}
