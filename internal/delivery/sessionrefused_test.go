package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
)

// SR-17: the receive side refused hub-b's shadow session (any reason):
// no copy on receipt there, and it stays tried last, until one of its
// sessions is let in; the WARN is logged once per refusal state. A
// fresh start has seen none refused.
func TestSR17SessionsRefusedHereUntilLetIn(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.170:14001"}
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "dbA")
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("fresh start: %q, want a copy", why)
	}
	r.ShadowSessionRefused("HUB-B")
	for range 2 {
		if why := r.sessionsRefusedHere("hub-b", "hub-b"); why == "" {
			t.Fatal("hub-b's sessions refused here: copy made")
		}
	}
	if why := r.sessionsRefusedHere("hub-b", ""); why == "" {
		t.Fatal("hub-b stating no name, its sessions refused here: copy made")
	}
	if !r.refusedLate(time.Now(), "hub-b") {
		t.Error("hub-b not tried last while its sessions are refused")
	}
	if n := strings.Count(buf.String(), "whose sessions this server refuses"); n != 1 {
		t.Errorf("%d WARN lines, want 1:\n%s", n, buf.String())
	}
	r.ShadowSessionLetIn("hub-b")
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("hub-b's session let in again: %q, want a copy", why)
	}
}

// rt29a F2 (SR-17): a holder whose sessions were refused here is
// tried again for a copy once a minute (receiptProbe after the refusal
// or the last try, whatever refusals came since); a copy made on that
// try ends nothing (the holder, refused, opens no session here for its
// heartbeat timeout): only a session of it let in does. A refusal for the connection's
// address alone, while a session of the server was let in here within
// sessionLetInTrust, marks nothing; later, it marks as any refusal.
func TestSR17RefusedHolderTriedAgainOnceAMinute(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.190:14501"}
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "dbA")
	t0 := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	now := t0
	r.now = func() time.Time { return now }
	refused := func() bool { return r.sessionsRefusedHere("hub-b", "hub-b") != "" }

	r.ShadowSessionRefused("hub-b")
	if !refused() {
		t.Fatal("hub-b's session refused here: copy made at once")
	}
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); !strings.Contains(why, "the next at 2026-12-05T04:01:00Z") {
		t.Fatalf("why %q does not say when hub-b is tried again", why)
	}
	// A copy made meanwhile on a session opened before (its push ended
	// after the refusal) ends nothing.
	r.copyMadeOn("hub-b", "hub-b")
	now = t0.Add(30 * time.Second)
	r.ShadowSessionRefused("hub-b") // its next heartbeat, refused too: the try is not put off
	if !refused() {
		t.Fatal("a copy pushed before the refusal ended it")
	}
	now = t0.Add(receiptProbe - time.Second)
	if !refused() || !r.refusedLate(now, "hub-b") {
		t.Fatal("tried again before the minute passed")
	}
	now = t0.Add(receiptProbe)
	if r.refusedLate(now, "hub-b") {
		t.Fatal("due for its try, still put after every other candidate")
	}
	if refused() {
		t.Fatal("a minute after the refusal: no try for a copy (rt29a F2: every copy refused until its next session let in)")
	}
	if !refused() {
		t.Fatal("one try per minute: a second copy went at once")
	}
	// The try failed (no copy made): the next one a minute later.
	now = t0.Add(2*receiptProbe - time.Second)
	if !refused() {
		t.Fatal("tried again before a minute after the last try")
	}
	now = t0.Add(2 * receiptProbe)
	if refused() {
		t.Fatal("no second try a minute after the first")
	}
	r.copyMadeOn("hub-b", "hub-b")
	now = now.Add(time.Second)
	if !refused() {
		t.Fatal("the copy made on the try ended the refusal: every copy after it would go there")
	}
	if !strings.Contains(buf.String(), "the refusal stands until one of its sessions is let in here") {
		t.Errorf("no INFO saying the refusal stands:\n%s", buf.String())
	}
	// rt30a F4: no line says the copy ends the refusal — its INFO at the
	// try, its WARN — while it stands after the copy.
	for _, wrong := range []string{"a copy made there ends the refusal", "a copy made there or a session of it let in here ends this"} {
		if strings.Contains(buf.String(), wrong) {
			t.Errorf("a log line says %q, but the refusal stands after the copy:\n%s", wrong, buf.String())
		}
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "tried again for a copy on receipt (once a minute)") && !strings.Contains(line, "only a session of it let in here ends") {
			t.Errorf("the INFO at the try does not say what ends the refusal: %s", line)
		}
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "no copy on receipt on a shadow server whose sessions this server refuses") && !strings.Contains(line, "only a session of it let in here ends") {
			t.Errorf("the WARN does not say what ends the refusal: %s", line)
		}
	}

	// A refusal for its address alone: its session let in 4 minutes
	// before stands for it; 6 minutes after, nothing does.
	r.ShadowSessionLetIn("hub-b")
	now = now.Add(sessionLetInTrust - time.Minute)
	r.ShadowSessionRefusedByAddress("hub-b")
	if refused() {
		t.Fatal("a refusal for its address alone marked hub-b, whose session was let in here 4 minutes before")
	}
	if !strings.Contains(buf.String(), "refused for its address alone is not taken as the server's") {
		t.Errorf("no INFO for the refusal passed over:\n%s", buf.String())
	}
	now = now.Add(2 * time.Minute)
	r.ShadowSessionRefusedByAddress("hub-b")
	if !refused() {
		t.Fatal("a refusal for its address alone, no session of hub-b let in for 6 minutes: no mark")
	}
	r.ShadowSessionLetIn("hub-b")
	if refused() {
		t.Fatal("a session of hub-b let in did not end the refusal")
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Errorf("%d WARN lines for refusals 8 minutes apart, want 1 (paced, refusalWarnEvery):\n%s", n, buf.String())
	}
	// Its watch session, let in long ago, completes a query: as recent.
	now = now.Add(2 * sessionLetInTrust)
	r.ShadowSessionAsked("hub-b")
	now = now.Add(time.Minute)
	r.ShadowSessionRefusedByAddress("hub-b")
	if refused() {
		t.Fatal("a refusal for its address alone marked hub-b, whose watch session asked here a minute before")
	}
}
