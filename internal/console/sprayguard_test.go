package console

import (
	"net/http"
	"sync"
	"testing"
)

// A flood of names from one address, sent in bursts, is not a fresh
// five tries per name (SMTP-8): the address is locked out for every account after
// sourceLockAfter failures (reserved before the check, so concurrency
// does not pass it), and another address is not affected.
func TestConsoleLockoutHoldsAgainstFloodOfNames(t *testing.T) {
	h := newHarness(t)
	const n = 3 * sourceLockAfter
	browsers := make([]loginForm, n)
	for i := range browsers {
		browsers[i] = newLoginForm(t, h, "127.0.0.5")
	}
	right := newLoginForm(t, h, "127.0.0.5")
	codes := make([]int, n)
	// In bursts each as large as the address may have checked or waiting
	// at once (loginSlots + loginWaiters), so that the lock-out, not the
	// burst limit, is what answers the later ones.
	burst := loginSlots + loginWaiters
	for first := 0; first < n; first += burst {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := first; i < min(first+burst, n); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i] = browsers[i].post(t, h, "name-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "guess")
			}()
		}
		close(start)
		wg.Wait()
	}
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] > sourceLockAfter || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("%d names at once from one address: %v; want at most %d checked (401), the rest 429", n, count, sourceLockAfter)
	}
	if code := right.post(t, h, "ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Errorf("the right password from the flooding address: %d, want 429", code)
	}
	if code := newLoginForm(t, h, "127.0.0.6").post(t, h, "ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Errorf("the right password from another address: %d, want a login", code)
	}
}
