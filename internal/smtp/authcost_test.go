package smtp

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"umbra/internal/clock"
)

func plainB64(user, pw string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw))
}

// A name that is no account costs no password hash (refusals the
// same whether or not the name exists, SMTP-8): the refusal waits about as long
// as a hash check instead, so that made-up names cannot spend the
// server's CPU. A listed account's password is checked.
func TestAuthUnknownNameComputesNoHash(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))),
		Clock: clk, AuthThrottle: throttleOf(t, "{delay: 1s, max_delay: 4s, lockout_after: 100, lockout: 10m, window: 1h}")})
	before := passwordHashes.Load()
	for i := 0; i < 3; i++ {
		d := dial(t, s, fmt.Sprintf("127.0.0.%d", 40+i))
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.failAfter(clk, plainB64(fmt.Sprintf("made-up-%d", i), "guess"), time.Second, "535 5.7.8")
	}
	if n := passwordHashes.Load() - before; n != 0 {
		t.Errorf("%d password hashes computed for names that are no account, want 0", n)
	}
	d := dial(t, s, "127.0.0.50")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainAliceBad, time.Second, "535 5.7.8")
	if n := passwordHashes.Load() - before; n != 1 {
		t.Errorf("%d password hashes computed for an account's wrong password, want 1", n)
	}
	// The time a refusal of an unknown name takes stands in for a hash
	// check: the session waits it (wall time: the hash is CPU time).
	creds, err := LoadCredentials(credsFile(t))
	if err != nil {
		t.Fatal(err)
	}
	want := creds.hashTime()
	if want <= 0 {
		t.Fatalf("no hash time measured at load: %v", want)
	}
	start := time.Now()
	if _, err := creds.Check("nobody", "x"); err == nil {
		t.Fatal("unknown name accepted")
	}
	if got := time.Since(start); got < want/2 {
		t.Errorf("an unknown name was refused in %v, a hash check takes %v", got, want)
	}
}

// A locked-out source keeps paying (SMTP-8): each attempt, whatever the
// name, waits a delay that grows with the source's failures (not a fresh
// name's first-failure delay) and computes no hash unless the name is a
// transport server account, which alone may pass a lock-out.
func TestAuthLockedOutSourceGrowingDelayNoHash(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	obs := &policyObserver{}
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))),
		Clock: clk, AuthThrottle: throttleOf(t, "{delay: 1s, max_delay: 1m, lockout_after: 2, lockout: 10m, window: 1h}"), Observer: obs})
	d := dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainB64("x0", "g"), time.Second, "535 5.7.8")
	d.failAfter(clk, plainB64("x1", "g"), 2*time.Second, "454 4.7.0") // locked out
	before := passwordHashes.Load()
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainB64("x2", "g"), 4*time.Second, "454 4.7.0") // fresh names: the source's delay grows
	d.failAfter(clk, plainAlice, 8*time.Second, "454 4.7.0")          // a user's right password: no check, same answer
	if n := passwordHashes.Load() - before; n != 0 {
		t.Errorf("%d password hashes computed for a locked-out source's attempts, want 0", n)
	}
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainHub, "235 2.0.0") // a transport server account still passes at once
	if n := passwordHashes.Load() - before; n != 1 {
		t.Errorf("%d password hashes for the server account, want 1", n)
	}
	if obs.count("locked_out") != 2 || obs.count("bad_credentials") != 2 {
		t.Errorf("locked-out attempts counted: %v", obs.auths)
	}
	// Another source is not affected: the same names, at once.
	o := dial(t, s, "127.0.0.3")
	o.expect("220")
	o.cmd("EHLO c", "250")
	o.cmd(plainAlice, "235 2.0.0")
}
