package ldapdir

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// An AUTH whose bind panicked finds the bind lock free when its answer
// arrives: the answer was sent in the recover, which ran before the
// deferred unlock, so the next AUTH could find the lock held (and
// TestDirectoryBindPanicRecovered failed about 1 run in 1500).
// Repeated so that the order shows every time.
func TestOPS2BindPanicAnswersWithTheLockFree(t *testing.T) {
	bindSeam = func() { panic("injected panic in a directory bind") }
	defer func() { bindSeam = nil }()
	d, err := New(Config{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=org",
		DatabaseAttribute: "umbraMailboxDatabase", Timeout: 2 * time.Second, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	held := 0
	for i := 0; i < 20000; i++ {
		d.bindAs(context.Background(), "uid=carol,dc=example,dc=org", "secret")
		if !d.authMu.TryLock() {
			held++
			d.authMu.Lock() // it comes free a moment later
		}
		d.authMu.Unlock()
	}
	if held > 0 {
		t.Fatalf("in %d of 20000 runs the bind lock was still held when bindAs returned: TestDirectoryBindPanicRecovered's TryLock check is flaky", held)
	}
}
