package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeDatabases is a DatabaseSource: answers by recipient, cached ones
// by recipient, and one error for every other.
type fakeDatabases struct {
	answers map[string]string
	cached  map[string]string
	err     error
	asked   []string
}

func (f *fakeDatabases) MailboxDatabase(ctx context.Context, rcpt string) (string, bool, error) {
	f.asked = append(f.asked, rcpt)
	if db, ok := f.answers[rcpt]; ok {
		return db, true, nil
	}
	return "", false, f.err
}

func (f *fakeDatabases) CachedMailboxDatabase(rcpt string) (string, bool, bool) {
	db, ok := f.cached[rcpt]
	return db, ok, ok
}

// A directory that cannot answer makes the recipient wait with a 4.4.3
// reply that says why: it did not answer in time (its error wraps
// context.DeadlineExceeded), the attempt ended while asking, or it
// failed otherwise. A plan (PlanRoute) never asks it: a recipient
// without a cached answer has Lookup and no next hop, one with a cached
// answer is routed by it.
func TestDirectoryAssignmentTempfailAndPlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		canceled bool
		want     string
	}{
		{"timeout", fmt.Errorf("ldap: %w", context.DeadlineExceeded), false, "451 4.4.3 directory did not answer in time"},
		{"down", errors.New("connection refused"), false, "451 4.4.3 directory cannot assign a mailbox database now"},
		{"attempt ended", context.Canceled, true, "451 4.4.3 mailbox database not assigned: the attempt ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := topo(t, reference(false))
			src := &fakeDatabases{err: tc.err}
			tp.SetDatabases(src)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.canceled {
				cancel()
			}
			defer cancel()
			r := tp.RouteContext(ctx, "hub1.chicago", "x@dublin.example", 0, InternalRelay)
			if !strings.HasPrefix(r.Tempfail, tc.want) || len(r.NextHops) != 0 {
				t.Errorf("tempfail %q, hops %v; want %q", r.Tempfail, r.NextHops, tc.want)
			}
		})
	}
	tp := topo(t, reference(false))
	src := &fakeDatabases{cached: map[string]string{"c@dublin.example": "db-dublin"}, err: errors.New("must not be asked")}
	tp.SetDatabases(src)
	if r := tp.PlanRoute("hub1.chicago", "x@dublin.example", 0, InternalRelay); !r.Lookup || len(r.NextHops) != 0 || r.Tempfail != "" {
		t.Errorf("plan of an address not cached: %+v", r)
	}
	if r := tp.PlanRoute("hub1.chicago", "c@dublin.example", 0, InternalRelay); r.Lookup || len(r.NextHops) == 0 {
		t.Errorf("plan of a cached address: %+v", r)
	}
	if len(src.asked) != 0 {
		t.Errorf("a plan asked the directory for %v", src.asked)
	}
}
