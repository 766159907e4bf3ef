package mailaddr

import "testing"

// An address already canonical is returned as it is, with no copy:
// delivery asks for every recipient of every attempt (IsCanonical).
func TestCanonicalNoCopyWhenCanonical(t *testing.T) {
	a := "user@example.test"
	if n := testing.AllocsPerRun(100, func() {
		if !IsCanonical(a) {
			t.Fatal("not canonical")
		}
	}); n != 0 {
		t.Fatalf("%v allocations for an address already canonical", n)
	}
	if got := Canonical("U@Example.Test."); got != "U@example.test" {
		t.Fatalf("Canonical = %q", got)
	}
}
