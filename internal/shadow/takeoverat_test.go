package shadow

import (
	"testing"
	"time"
)

// The takeover forecast (shadow list's WHY, takeover_at) follows the
// bound of the store: no takeover before timeout × retries after the last
// contact of any kind (Primary.LastHeard), which a push or another
// contact that is no discard query moves without moving the heartbeat
// schedule. The forecast is then the bound itself, where the deferred
// takeover's heartbeat falls due (deferredDue; rt40 F3: not the first
// heartbeat of the timeout's schedule past it, which the heartbeats,
// started late, need not keep).
func TestTakeoverForecastFollowsLastHeard(t *testing.T) {
	tm := Timing{Timeout: 5 * time.Second, Retries: 2}
	p := Primary{Name: "hub-b", LastContact: t0, LastTry: t0.Add(5 * time.Second), Failures: 1}
	if got := takeoverAt(p, tm); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("forecast with no later contact: %v, want %v", got, t0.Add(10*time.Second))
	}
	p.LastHeard = t0.Add(4 * time.Second) // a push before the failed heartbeat
	if got, want := takeoverAt(p, tm), t0.Add(14*time.Second); !got.Equal(want) {
		t.Fatalf("forecast after a push 4 s in: %v, want %v (the push + 10 s)", got, want)
	}
	// The heartbeat falls due there once the retry count failed before
	// it, and only once.
	p.LastTry, p.Failures = t0.Add(10*time.Second), 2
	if deferredDue(p, t0.Add(13*time.Second), tm) || !deferredDue(p, t0.Add(14*time.Second), tm) {
		t.Fatal("the deferred takeover's heartbeat is not due at the bound, or due before it")
	}
	p.LastTry = t0.Add(14 * time.Second)
	if deferredDue(p, t0.Add(15*time.Second), tm) {
		t.Fatal("a heartbeat started at the bound makes another due")
	}
}
