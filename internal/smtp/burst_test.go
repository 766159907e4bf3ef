package smtp

import (
	"testing"
)

// The default per-source connection limit takes a burst of 40 parallel
// sessions from one client (an application server submitting in
// parallel); 20 refused a third of such a burst.
func TestDefaultPerSourceLimitTakesABurst(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	var ds []*dialog
	for i := 0; i < 40; i++ {
		d := dial(t, s, "")
		ds = append(ds, d)
	}
	for i, d := range ds {
		if r := d.expect("2"); len(r) < 3 || r[:3] != "220" {
			t.Fatalf("session %d of the burst: %q", i, r)
		}
	}
}
