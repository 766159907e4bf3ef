package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-16, OPS-3 (sites47 F2 of an outside check): README (Heartbeats and
// takeover) promises that config check gives the takeover time for the
// settings in use — timeout × retries after the last contact, one
// heartbeat's bound more for a hung primary. It printed only its ok
// line, and --json had no such field. With shadow_heartbeat_timeout
// 10s, retry count 3 and command_timeout 4s: 30s, 34s when it hangs;
// with the defaults, 15 and 20 minutes, as the README says; with shadow
// redundancy off, no takeover.
func TestSR16ConfigCheckGivesTakeoverTime(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, "127.0.0.126:9527", "127.0.0.126:9528")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, transport string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		text := strings.Replace(string(raw), "transport:\n", "transport:\n"+transport, 1)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, transport string
		after, hung     time.Duration
		text            string
	}{
		{"set.yaml", "  shadow_heartbeat_timeout: 10s\n  shadow_heartbeat_retry_count: 3\n  command_timeout: 4s\n", 30 * time.Second, 34 * time.Second,
			"takeover of shadow copies held here: 30s after their primary's last contact (34s if it hangs)"},
		{"defaults.yaml", "", 15 * time.Minute, 20 * time.Minute,
			"takeover of shadow copies held here: 15m0s after their primary's last contact (20m0s if it hangs)"},
		{"off.yaml", "  shadow_redundancy_enabled: false\n", 15 * time.Minute, 20 * time.Minute,
			"takeover of shadow copies held here from before (shadow_redundancy_enabled is false: no new copy is accepted): 15m0s after their primary's last contact (20m0s if it hangs)"},
	} {
		p := write(c.name, c.transport)
		code, out := runSock(t, "config", "check", p)
		if code != 0 || !strings.Contains(out, c.text) {
			t.Errorf("config check %s: exit %d, want 0 and %q:\n%s", c.name, code, c.text, out)
		}
		_, js, code := runBounded(t, "config", "check", "--json", p)
		var res configCheckResult
		if err := json.Unmarshal([]byte(js), &res); err != nil || code != 0 {
			t.Fatalf("config check --json %s: exit %d, %v:\n%s", c.name, code, err, js)
		}
		if res.TakeoverAfter != c.after || res.TakeoverAfterHung != c.hung {
			t.Errorf("config check --json %s: takeover_after_ns %v, takeover_after_hung_ns %v; want %v, %v:\n%s",
				c.name, res.TakeoverAfter, res.TakeoverAfterHung, c.after, c.hung, js)
		}
	}
}
