package ldapdir

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/recipients"
)

// SPEC SMTP-6, EDGE-1, OPS-2: a panic on the goroutine a directory
// search runs on (in the reading of the directory's answer, say: go-ldap
// parsing outside input) is recovered — the directory's locks are
// unlocked by defer there —: the lookup is ErrUnavailable (RCPT's 451,
// never accept-all), the panic counted (umbra_ldap_panics_total), and
// the next lookup is asked anew. Seen to fail first: the test binary
// died of the panic — in the daemon, every session with it.
func TestDirectorySearchPanicRecovered(t *testing.T) {
	fired := 0
	searchSeam = func() {
		fired++
		if fired == 1 {
			panic("injected panic in a directory search")
		}
	}
	defer func() { searchSeam = nil }()
	reg := prometheus.NewRegistry()
	d, err := New(Config{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=org",
		DatabaseAttribute: "umbraMailboxDatabase", Timeout: 2 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, _, err = d.MailboxDatabase(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "recovered panic") {
		t.Fatalf("lookup after the panic: %v, want ErrUnavailable (recovered panic)", err)
	}
	if n := testutil.ToFloat64(d.m.panics); n != 1 {
		t.Fatalf("umbra_ldap_panics_total %v, want 1", n)
	}
	_, _, err = d.MailboxDatabase(context.Background(), "alice@example.org")
	if err == nil || strings.Contains(err.Error(), "recovered panic") || fired != 2 {
		t.Fatalf("the next lookup: %v (searches %d), want it asked anew (no directory there: unavailable)", err, fired)
	}
}

// EDGE-2 (front48 item 4): a lookup whose search panicked is umbra's
// own fault, and its error says so (recipients.ErrInternal: a session
// answers 451 4.3.0 in umbra's words), while it stays a failure to get
// an answer (ErrUnavailable) for every caller that only asks that.
func TestDirectorySearchPanicIsUmbrasFault(t *testing.T) {
	searchSeam = func() { panic("injected panic in a directory search") }
	defer func() { searchSeam = nil }()
	d, err := New(Config{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=org",
		DatabaseAttribute: "umbraMailboxDatabase", Timeout: 2 * time.Second, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, _, err = d.MailboxDatabase(context.Background(), "alice@example.org")
	if !errors.Is(err, recipients.ErrInternal) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup after the panic: %v, want umbra's internal error (and unavailable)", err)
	}
}
