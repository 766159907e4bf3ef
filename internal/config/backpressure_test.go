package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Back pressure is on by default with Exchange's submission queue marks;
// a file overrides single marks, turns one resource off with high: 0, and
// gets file:line errors for marks out of order.
func TestBackPressureSettings(t *testing.T) {
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if b := c.BackPressure; !b.Enabled || b.SubmissionQueue != (CountWatermark{2000, 10000, 15000}) || b.CheckInterval.D() != DefaultBackPressureInterval {
		t.Fatalf("defaults: %+v", b)
	}
	base := `server: {name: hub.example.test, role: hub, data_dir: data}
receive_connectors:
  - {name: in, bindings: ["127.0.0.1:2525"], remote_ranges: ["127.0.0.0/8"], permissions: {anonymous: [submit]}}
`
	dir := t.TempDir()
	p := filepath.Join(dir, "x.yaml")
	os.WriteFile(p, []byte(base+"back_pressure:\n  submission_queue: {medium: 3, high: 5, normal: 1}\n  sessions: {high: 0}\n  database_size: {normal: 1MiB, medium: 2MiB, high: 3MiB}\n"), 0o600)
	c, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if b := c.BackPressure; b.SubmissionQueue != (CountWatermark{1, 3, 5}) || b.Sessions.High != 0 || b.DatabaseSize.High != 3<<20 || b.TotalQueue != DefaultBackPressureTotal {
		t.Fatalf("overrides: %+v", b)
	}
	for yaml, want := range map[string]string{
		"back_pressure:\n  total_queue: {normal: 5, medium: 3, high: 9}\n": "x.yaml:5: back_pressure.total_queue: need 0 <= normal <= medium <= high",
		"back_pressure:\n  disk_used_percent: {high: 101}\n":               "x.yaml:5: back_pressure.disk_used_percent: a percentage is at most 100",
		"back_pressure:\n  check_interval: 0s\n":                           "back_pressure.check_interval must be positive",
		"back_pressure:\n  sessions: {hgh: 3}\n":                           `unknown key "hgh"`,
		"back_pressure:\n  sessions: {high: 0.5}\n":                        "x.yaml:5: back_pressure.sessions.high: 0.5 is not a whole number",
	} {
		os.WriteFile(p, []byte(base+yaml), 0o600)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %s", yaml, err, want)
		}
	}
}

// The tracking log's age bound defaults to 30 days, as Exchange's.
func TestTrackingMaxAgeDefault(t *testing.T) {
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracking.MaxAge.D() != DefaultTrackingMaxAge || DefaultTrackingMaxAge != 30*24*time.Hour {
		t.Fatalf("tracking.max_age %v", c.Tracking.MaxAge)
	}
}
