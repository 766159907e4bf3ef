package ldapdir

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SPEC SMTP-6, EDGE-1, OPS-2: a panic on the goroutine of an AUTH's
// bind is recovered as a search's is: the bind answers the directory
// unavailable (never a success), the panic is counted
// (umbra_ldap_panics_total), and the bind lock is free for the next
// AUTH. Seen to fail first: the test binary died of the panic — in the
// daemon, every session with it.
func TestDirectoryBindPanicRecovered(t *testing.T) {
	bindSeam = func() { panic("injected panic in a directory bind") }
	defer func() { bindSeam = nil }()
	reg := prometheus.NewRegistry()
	d, err := New(Config{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=org",
		DatabaseAttribute: "umbraMailboxDatabase", Timeout: 2 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ok, err := d.bindAs(context.Background(), "uid=carol,dc=example,dc=org", "secret")
	if ok || err == nil || !strings.Contains(err.Error(), "recovered panic") {
		t.Fatalf("bind after the panic: %v, %v; want refused with a recovered panic", ok, err)
	}
	if n := testutil.ToFloat64(d.m.panics); n != 1 {
		t.Fatalf("umbra_ldap_panics_total %v, want 1", n)
	}
	if !d.authMu.TryLock() {
		t.Fatal("the bind lock stayed held")
	}
	d.authMu.Unlock()
}
