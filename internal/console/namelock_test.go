package console

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// A guesser spread over many addresses, each under the per-address
// limit, gets no more than nameLockAfter password checks for one account
// name in the window (SMTP-8, OPS-5), however the name is typed ("ops",
// "OPS ", fullwidth) and however many logins arrive at once; the name is
// then refused from every address but a trusted one (loopback: an SSH
// tunnel to the host), where the right password still logs in and lifts
// the lock-out for everyone.
func TestConsoleNameLockedAcrossAddresses(t *testing.T) {
	h := newHarness(t)
	h.s.trusted = func(ip string) bool { return ip == "127.0.0.1" } // the test's other 127.0.0.x are "remote"
	var checks atomic.Int32
	h.s.checkPassword = func(user, pass string) (bool, error) {
		checks.Add(1)
		return h.s.credentials().Check(user, pass)
	}
	const addrs, per = 10, loginFailures - 1 // under every per-address limit
	variants := []string{"ops", "OPS ", " Ops", "\uff4f\uff50\uff53"}
	forms := make([]loginForm, addrs*per)
	for i := range forms {
		forms[i] = newLoginForm(t, h, "127.0.0."+itoa(20+i/per))
	}
	codes := make([]int, len(forms))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = forms[i].post(t, h, variants[i%len(variants)], "guess")
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if n := checks.Load(); n > nameLockAfter || count[http.StatusUnauthorized] > nameLockAfter ||
		count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != len(forms) {
		t.Errorf("%d guesses at one name from %d addresses: %v, %d checked; want at most %d checked (401), the rest 429",
			len(forms), addrs, count, n, nameLockAfter)
	}
	if code := newLoginForm(t, h, "127.0.0.40").post(t, h, "ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Errorf("the right password from a fresh remote address while the name is locked: %d, want 429", code)
	}
	if code := newLoginForm(t, h, "127.0.0.1").post(t, h, "ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Errorf("the right password from the trusted address: %d, want a login", code)
	}
	if code := newLoginForm(t, h, "127.0.0.41").post(t, h, "ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Errorf("the right password from a remote address after the lift: %d, want a login", code)
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

// The lock-out of an account at one address counts the name's variants
// together, as the lock-out of the name does: "OPS " after four "ops"
// is the fifth failure there, not the first of another name.
func TestConsoleAddressLockFoldsNameVariants(t *testing.T) {
	h := newHarness(t)
	for i, name := range []string{"ops", "OPS", " ops", "Ops ", "\uff4f\uff50\uff53"} {
		if code := newLoginForm(t, h, "127.0.0.7").post(t, h, name, "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d (%q): %d, want 401", i, name, code)
		}
	}
	if code := newLoginForm(t, h, "127.0.0.7").post(t, h, "ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Errorf("the right password after five variants' failures from the address: %d, want 429", code)
	}
}
