package dumpster

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A window starting before any copy could be kept (before 1970: 1900,
// "36500d", "2562047h", and 1584–1677, whose nanoseconds since 1970 do
// not fit in 64 bits) is every copy: the request is stored and read
// back as such, a retry with the same parameters is the same request,
// and list and remove see every copy. It used to store a time its
// record could not hold: a record that did not decode (1900), or a time
// wrapped into the future that resubmitted nothing (1650).
func TestWindowBeforeAnyCopyIsEverything(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		call func(d *Dumpster, id string) (*queue.Request, Outcome, error)
	}{
		{"1900", func(d *Dumpster, id string) (*queue.Request, Outcome, error) {
			return d.Redeliver(ctx, id, "DB1", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"1650", func(d *Dumpster, id string) (*queue.Request, Outcome, error) {
			return d.Redeliver(ctx, id, "DB1", time.Date(1650, 6, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"36500d", func(d *Dumpster, id string) (*queue.Request, Outcome, error) {
			return d.RedeliverAgo(ctx, id, "DB1", 36500*24*time.Hour)
		}},
		{"2562047h", func(d *Dumpster, id string) (*queue.Request, Outcome, error) {
			return d.RedeliverAgo(ctx, id, "DB1", 2562047*time.Hour)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
			r.send(1, 300)
			r.clk.Advance(time.Minute)
			for _, since := range []time.Time{time.Date(1650, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)} {
				if es, err := r.d.List("DB1", since, 0); err != nil || len(es) != 1 {
					t.Fatalf("list since %v: %d copies, %v; want 1", since, len(es), err)
				}
				if es, err := r.d.Remove(ctx, Selection{Database: "DB1", Since: since}, true); err != nil || len(es) != 1 {
					t.Fatalf("remove --dry-run since %v: %d copies, %v; want 1", since, len(es), err)
				}
				if es, err := r.d.Remove(ctx, Selection{Database: "DB1", Until: since}, true); err != nil || len(es) != 0 {
					t.Fatalf("remove --dry-run until %v: %d copies, %v; want none", since, len(es), err)
				}
			}
			req, out, err := c.call(r.d, "r-"+c.name)
			if err != nil || out != Carried || req.Resubmitted != 1 || req.Phase != queue.Done {
				t.Fatalf("first: %+v %v %v", req, out, err)
			}
			r.waitEmpty()
			if bad := r.d.DamagedRequests(); len(bad) != 0 {
				t.Fatalf("damaged requests stored: %v", bad)
			}
			again, out, err := c.call(r.d, "r-"+c.name)
			if err != nil || out != Repeated || again.Resubmitted != 1 {
				t.Fatalf("retry: %+v %v %v; want the first run's result", again, out, err)
			}
			if again.Since.After(time.Unix(0, 0)) {
				t.Fatalf("stored window starts %v, after 1970", again.Since)
			}
		})
	}
}
