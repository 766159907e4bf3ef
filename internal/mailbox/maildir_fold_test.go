package mailbox

import "testing"

// A Maildir is shared by ASCII case only: a local part with a KELVIN
// SIGN or a capital sharp s has its own, never kelvin's or straße's.
func TestMaildirPathFoldsASCIIOnly(t *testing.T) {
	d := &Maildir{Root: "/m"}
	if d.Path("Kelvin", "Example.TEST") != d.Path("kelvin", "example.test") {
		t.Error("ASCII case splits a mailbox")
	}
	if d.Path("\u212Aelvin", "example.test") == d.Path("kelvin", "example.test") {
		t.Error("a KELVIN SIGN shares kelvin's mailbox")
	}
	if d.Path("STRA\u1E9EE", "example.test") == d.Path("straße", "example.test") {
		t.Error("a capital sharp s shares straße's mailbox")
	}
	if Name("db", "org", "\u212Aelvin@example.test") == Name("db", "org", "kelvin@example.test") {
		t.Error("a KELVIN SIGN shares kelvin's delivery name")
	}
}
