package ldapdir

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// OPS-2, SMTP-6: a search whose goroutine panicked is umbra's defect,
// counted in umbra_ldap_panics_total: the lookup it failed counts
// umbra_ldap_lookups_total result="panicked", not result="error" (the
// directory failing), which an alert on the directory's health reads;
// the caller still gets ErrUnavailable (451, never acceptance). Seen to
// fail first: counted result=error.
func TestDirectorySearchPanicCountedPanickedNotError(t *testing.T) {
	searchSeam = func() { panic("injected panic in a directory search") }
	defer func() { searchSeam = nil }()
	reg := prometheus.NewRegistry()
	d, err := New(Config{URL: "ldap://127.0.0.175:10193", BaseDN: "dc=example,dc=org", Timeout: 2 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Lookup(context.Background(), "alice@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup after the panic: %v, want ErrUnavailable", err)
	}
	if n := testutil.ToFloat64(d.m.lookups.WithLabelValues("error")); n != 0 {
		t.Fatalf("the panicked search counted result=error (%v): blamed on the directory", n)
	}
	if n := testutil.ToFloat64(d.m.lookups.WithLabelValues("panicked")); n != 1 {
		t.Fatalf("result=panicked %v, want 1", n)
	}
}
