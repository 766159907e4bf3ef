package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/tlspolicy"
)

// What a daemon's data directory holds before the daemon starts.

// databaseIDIn makes (or opens) the transport database of the data
// directory data and returns its database id: a daemon started on data
// presents that id.
func databaseIDIn(t testing.TB, data string) string {
	t.Helper()
	os.MkdirAll(data, 0o700)
	s, err := queue.Open(filepath.Join(data, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.DatabaseID()
	s.Close()
	return id
}

// storeTLSResults stores in the transport database of the data
// directory data the TLS-RPT counters of day for dest.test: one
// successful session with mx1.dest.test under its MTA-STS policy and one
// that failed with certificate-expired.
func storeTLSResults(t testing.TB, data string, day time.Time) {
	t.Helper()
	os.MkdirAll(data, 0o750)
	st, err := queue.Open(filepath.Join(data, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := tlspolicy.NewCounter(tlspolicy.RPTConfig{Store: st, Clock: clock.NewFake(day)})
	c.Result("dest.test", tlspolicy.PolicySTS, "mx1.dest.test", "")
	c.Result("dest.test", tlspolicy.PolicySTS, "mx1.dest.test", "certificate-expired")
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
}
