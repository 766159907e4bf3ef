package console

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The lock-out holds under concurrency: logins for one account from one
// address sent at once get no more password checks than the lock-out
// allows (each reserves its place before its password is checked), and
// the right password after them is refused. rt57 M2: 100 at once gave
// 99 checks and a login after 98 failures, because the lock-out was
// decided when a request arrived and the check ran later.
func TestConsoleLockoutHoldsUnderConcurrency(t *testing.T) {
	h := newHarness(t)
	// A realistic hash cost, so that the checks overlap.
	hash, _ := bcrypt.GenerateFromPassword([]byte("right-pass"), 10)
	old, _ := os.ReadFile(h.credFile)
	os.WriteFile(h.credFile, append(old, []byte("alice:"+string(hash)+"\n")...), 0o600)

	// Each attempt is a browser of its own: its own login form and cookie.
	const n = 30
	attempts := make([]loginForm, n)
	for i := range attempts {
		attempts[i] = newLoginForm(t, h, "127.0.0.1")
	}
	right := newLoginForm(t, h, "127.0.0.1")
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = attempts[i].post(t, h, "alice", "wrong-"+string(rune('a'+i)))
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] > loginFailures || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("%d wrong passwords at once: %v; want at most %d checked (401), the rest 429", n, count, loginFailures)
	}
	if checks := strings.Count(h.logs.String(), "console login failed"); checks > loginFailures {
		t.Errorf("%d passwords checked for one account from one address, want at most %d", checks, loginFailures)
	}
	if code := right.post(t, h, "alice", "right-pass"); code != http.StatusTooManyRequests {
		t.Fatalf("the right password after %d failures at once: %d, want 429", n, code)
	}
}

// A flood of failures for made-up names from one address does not push
// the locked account's count out of the bounded failure table: the
// names with the fewest failures go first.
func TestConsoleLockoutSurvivesFloodOfNames(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < loginFailures; i++ {
		if code, _ := h.login("ops", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	now := time.Now()
	for i := 0; i < 10*maxSessions; i++ { // enough that a key evicted at random is gone
		h.s.failed(lockKey("made-up-"+strconv.Itoa(i), "127.0.0.1"), now)
	}
	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Fatalf("the right password after %d failures and a flood of other names: %d, want 429", loginFailures, code)
	}
}
