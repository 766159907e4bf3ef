package queue

import "testing"

// The --domain filter is a domain as the queue stores one: the operator
// may write it with a leading "@", a final dot, another case or its
// U-label form, and still select the recipients the queue holds; text that
// is no domain is refused instead of selecting nothing (rt19 left open:
// `message list --domain 'a b'` was passed on and listed nothing).
func TestDomainFilter(t *testing.T) {
	m := &Message{Rcpts: []Recipient{{Addr: "a@xn--bcher-kva.example"}, {Addr: "b@Example.Test"}, {Addr: "postmaster@[192.0.2.1]"}}}
	for _, d := range []string{"bücher.example", "xn--bcher-kva.example", "@XN--BCHER-KVA.example.", "example.test", "EXAMPLE.TEST.", "[192.0.2.1]"} {
		if err := CheckDomain(d); err != nil {
			t.Errorf("CheckDomain(%q): %v", d, err)
		}
		if !(MessageFilter{Domain: d}).prepared(nil).match(m) {
			t.Errorf("--domain %q did not select the message", d)
		}
	}
	if (MessageFilter{Domain: "other.test"}).prepared(nil).match(m) {
		t.Error("--domain other.test selected the message")
	}
	for _, d := range []string{"a b", "a..b", ".a", "a@b", "exa\u00admple.test", "-a.test", "[1.2.3]", "a_b/c", "@", "x.y\n"} {
		if err := CheckDomain(d); err == nil {
			t.Errorf("CheckDomain(%q) accepted it", d)
		}
	}
}

// A listing makes the filter's forms once (prepared): matching a message
// computes no key of the filter's domain and lowers no filter text.
func TestPreparedFilterNoAllocationPerMessage(t *testing.T) {
	m := &Message{From: "alice@a.test", Rcpts: []Recipient{{Addr: "b@example.test"}}}
	f := MessageFilter{Domain: "@EXAMPLE.TEST.", From: "ALICE", To: "B@"}.prepared(nil)
	if !f.match(m) {
		t.Fatal("the filter did not select the message")
	}
	if n := testing.AllocsPerRun(100, func() { f.match(m) }); n != 0 {
		t.Errorf("%v allocations per message", n)
	}
}
