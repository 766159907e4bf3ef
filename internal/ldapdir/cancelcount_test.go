package ldapdir

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/testsupport"
)

// OPS-2, SMTP-6: a question to the directory that its caller ended —
// umbra's stop, the session gone, a delivery attempt cut (the caller's
// context cancelled) — is no failure of the directory's:
// umbra_ldap_lookups_total and umbra_ldap_authentications_total count
// it result="cancelled", never result="error", which an alert on the
// directory's health reads. The caller still gets ErrUnavailable (never
// an answer). Against an LDAP server of its own on loopback that takes
// the connection and never answers. Seen to fail first: both counted
// result="error".
func TestDirectoryQuestionCallerEndedCountedCancelled(t *testing.T) {
	s := testsupport.Serve(t, "127.0.0.175:10191", nil) // accepts, never answers
	reg := prometheus.NewRegistry()
	d, err := New(Config{URL: "ldap://" + s.Addr(), BaseDN: "dc=example,dc=org", AccountFilter: "(uid=%s)",
		Timeout: time.Hour, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range []struct {
		name string
		ask  func(ctx context.Context) error
		vec  *prometheus.CounterVec
	}{
		{"lookup", func(ctx context.Context) error { _, err := d.Lookup(ctx, "alice@example.org"); return err }, d.m.lookups},
		{"auth", func(ctx context.Context) error { _, err := d.Authenticate(ctx, "alice", "secret"); return err }, d.m.auths},
	} {
		t.Run(q.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- q.ask(ctx) }()
			for i := 0; s.Count() == 0; i++ {
				if i == 3000 {
					t.Fatal("the directory was never connected to")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // the search is written and waits on the directory
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute): // a bound on a hang: ldap.timeout is an hour
				t.Fatal("the question ran on after its caller ended")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s: %v, want ErrUnavailable", q.name, err)
			}
			if n := testutil.ToFloat64(q.vec.WithLabelValues("error")); n != 0 {
				t.Fatalf("%s its caller ended counted result=error (%v): blamed on the directory", q.name, n)
			}
			if n := testutil.ToFloat64(q.vec.WithLabelValues("cancelled")); n != 1 {
				t.Fatalf("%s its caller ended: result=cancelled %v, want 1", q.name, n)
			}
		})
	}
}
