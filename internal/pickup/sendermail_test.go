package pickup

import "testing"

// SR-12 (reread of the pickup sender). README (Pickup directory): "sender and recipients are queued as RCPT
// stores them ... a source route dropped". The sender is not: a source
// route in X-Sender is kept, and a quoted local part holding an "@" in
// From: loses its quotes and becomes another address (MAIL refuses both
// forms' "@"-local part; RCPT refuses it for a recipient here).
func TestSR12PickupSenderAsMAILStoresIt(t *testing.T) {
	env, _, err := Parse([]byte("X-Sender: <@relay.example:u@x.example>\nX-Receiver: b@y.example\n\nbody\n"), nil)
	if err == nil && env.From != "u@x.example" {
		t.Errorf("X-Sender with a source route queued as %q, want u@x.example (route dropped) or a refusal", env.From)
	}
	env, _, err = Parse([]byte("From: \"a@b\"@x.example\nTo: b@y.example\n\nbody\n"), nil)
	if err == nil {
		t.Errorf("From: \"a@b\"@x.example queued with sender %q: another address than the header's; MAIL FROM refuses a local part holding an @", env.From)
	}
	env, _, err = Parse([]byte("X-Sender: \"a@b\"@x.example\nX-Receiver: b@y.example\n\nbody\n"), nil)
	if err == nil {
		t.Errorf("X-Sender \"a@b\"@x.example queued with sender %q; MAIL FROM refuses a local part holding an @", env.From)
	}
}
