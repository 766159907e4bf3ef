package resolver_test

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/resolver/dnstest"
)

// IsTimeout says a server did not answer in time, nothing else: a CNAME
// loop or an over-long chain among names that hold the word "timeout"
// (names are the domain's to choose) is an error, temporary, never a
// timeout — the lookup metrics count it as "error", not "timeout".
func TestIsTimeoutNotFromNamesInTheMessage(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.127:9313",
		"x.timeout.test. 300 IN CNAME y.timeout.test.", "y.timeout.test. 300 IN CNAME x.timeout.test.")
	c := newClient(t, srv.Addr)
	_, err := c.LookupHost(context.Background(), "x.timeout.test")
	de := dnsErr(t, err)
	if !strings.Contains(err.Error(), "CNAME loop") || !de.IsTemporary {
		t.Fatalf("%v (%+v), want a temporary CNAME loop", err, de)
	}
	if de.IsTimeout {
		t.Errorf("%v: IsTimeout set for a CNAME loop through names with 'timeout' in them", err)
	}
}
