package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A message picked up from the pickup directory is on this server's disk
// alone once queued (its file is beside the database): on a server that
// makes shadow copies the commit that queues it marks it held by this
// server only (SR-12, SR-17), in memory and through a spool file alike;
// where none are made it is not marked.
func TestPickupMarkedHeldHereOnly(t *testing.T) {
	for _, c := range []struct {
		name          string
		copies, spool bool
		want          int
	}{
		{"copies", true, false, 1},
		{"copies spooled", true, true, 1},
		{"no copies", false, false, 0},
	} {
		st, mgr, _ := pickupStore(t)
		st.SetShadowCopies(c.copies)
		dir := t.TempDir()
		cfg := Config{Dir: dir, Hostname: "hub.test", Queue: mgr}
		if c.spool {
			cfg.Spool, cfg.SpoolThreshold, cfg.MaxHeaderSize = st.NewSpool, 1024, 4096
		}
		w := New(cfg)
		body := "X-Receiver: a@example.test\r\nSubject: s\r\n\r\n" + string(make([]byte, 4096)) + "\r\n"
		if err := os.WriteFile(filepath.Join(dir, "m.eml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		w.Scan(ctx)
		cancel()
		w.wg.Wait()
		single, err := mgr.SingleCopies()
		if err != nil {
			t.Fatal(err)
		}
		if len(single) != c.want {
			t.Errorf("%s: %d messages marked held by this server only (%+v), want %d", c.name, len(single), single, c.want)
		}
		for _, s := range single {
			if s.Lost != "" {
				t.Errorf("%s: mark names %q as the server the copy was on; a pickup file had none", c.name, s.Lost)
			}
		}
	}
}
