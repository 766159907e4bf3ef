package config

import (
	"fmt"
	"time"
)

// BackPressure is the server's resource monitoring (package
// backpressure). Each resource
// has three watermarks: at Medium the level is medium (anonymous senders
// get 452 4.3.1, the others are slowed by SlowDelay), at High it is high
// (all new mail gets 452 4.3.1; delivery and shadow discard traffic go
// on); the level falls back only below the next lower mark (Normal for
// medium). A resource whose high mark is 0 is not watched.
type BackPressure struct {
	Enabled       bool     `yaml:"enabled"`
	CheckInterval Duration `yaml:"check_interval"`
	SlowDelay     Duration `yaml:"slow_delay"`
	// DiskUsedPercent: how full the data directory's filesystem is.
	DiskUsedPercent Watermark `yaml:"disk_used_percent"`
	// DatabaseSize: the data in the transport database (queue.db's size
	// less its free pages, so that a drained backlog lowers it).
	DatabaseSize SizeWatermark `yaml:"database_size"`
	// MemoryPercent: memory the process holds, of physical memory.
	MemoryPercent Watermark `yaml:"memory_percent"`
	// SubmissionQueue and TotalQueue: messages in the submission queue,
	// and entries in every queue.
	SubmissionQueue CountWatermark `yaml:"submission_queue"`
	TotalQueue      CountWatermark `yaml:"total_queue"`
	// Sessions: open SMTP sessions on every receive connector.
	Sessions CountWatermark `yaml:"sessions"`
}

// Watermark is a resource's normal, medium and high marks.
type Watermark struct {
	Normal float64 `yaml:"normal"`
	Medium float64 `yaml:"medium"`
	High   float64 `yaml:"high"`
}

// SizeWatermark is a Watermark in bytes (36MiB, 10GiB).
type SizeWatermark struct {
	Normal Size `yaml:"normal"`
	Medium Size `yaml:"medium"`
	High   Size `yaml:"high"`
}

// Marks returns the watermark as numbers.
func (w SizeWatermark) Marks() Watermark {
	return Watermark{Normal: float64(w.Normal), Medium: float64(w.Medium), High: float64(w.High)}
}

// CountWatermark is a Watermark in whole messages or sessions: a
// fraction is refused at its line, not compared against a count.
type CountWatermark struct {
	Normal int `yaml:"normal"`
	Medium int `yaml:"medium"`
	High   int `yaml:"high"`
}

// Marks returns the watermark as numbers.
func (w CountWatermark) Marks() Watermark {
	return Watermark{Normal: float64(w.Normal), Medium: float64(w.Medium), High: float64(w.High)}
}

func backPressurePresets() BackPressure {
	return BackPressure{
		Enabled:         true,
		CheckInterval:   Duration(DefaultBackPressureInterval),
		SlowDelay:       Duration(DefaultBackPressureSlowDelay),
		DiskUsedPercent: DefaultBackPressureDisk,
		DatabaseSize:    DefaultBackPressureDatabase,
		MemoryPercent:   DefaultBackPressureMemory,
		SubmissionQueue: DefaultBackPressureSubmission,
		TotalQueue:      DefaultBackPressureTotal,
		Sessions:        DefaultBackPressureSessions,
	}
}

func validateBackPressure(v *validator, b BackPressure) {
	if b.CheckInterval <= 0 {
		v.add("back_pressure.check_interval must be positive", "back_pressure", "check_interval")
	}
	if b.SlowDelay < 0 {
		v.add("back_pressure.slow_delay must not be negative", "back_pressure", "slow_delay")
	}
	refused := map[string]bool{}
	for _, c := range []struct {
		key string
		w   CountWatermark
	}{{"submission_queue", b.SubmissionQueue}, {"total_queue", b.TotalQueue}, {"sessions", b.Sessions}} {
		refused[c.key] = countMarksOutside(v, c.key, c.w)
	}
	for _, r := range []struct {
		key string
		w   Watermark
	}{
		{"disk_used_percent", b.DiskUsedPercent}, {"database_size", b.DatabaseSize.Marks()}, {"memory_percent", b.MemoryPercent},
		{"submission_queue", b.SubmissionQueue.Marks()}, {"total_queue", b.TotalQueue.Marks()}, {"sessions", b.Sessions.Marks()},
	} {
		w := r.w
		if refused[r.key] || w.High != 0 && wrongUnit(v, r.key, w) {
			continue
		}
		switch {
		case w.High == 0:
			// not watched
		case w.Normal < 0 || !(w.Normal <= w.Medium && w.Medium <= w.High):
			v.add(fmt.Sprintf("back_pressure.%s: need 0 <= normal <= medium <= high (high 0: not watched), not %v/%v/%v",
				r.key, w.Normal, w.Medium, w.High), "back_pressure", r.key)
		case (r.key == "disk_used_percent" || r.key == "memory_percent") && w.High > 100:
			v.add(fmt.Sprintf("back_pressure.%s: a percentage is at most 100", r.key), "back_pressure", r.key)
		}
	}
}

// MinDatabaseSizeMark is the least database_size watermark: an empty
// transport database is larger than a few KiB, so a mark below it
// (database_size: 16, bytes, for 16GiB) holds all mail at once.
const MinDatabaseSizeMark = 1 << 20

// wrongUnit refuses, at each mark's line, a watermark that cannot be
// meant (rt45 F4): a percentage below 1 (a fraction, 0.8 for 80 %) and a
// database size below MinDatabaseSizeMark (a size without a unit is
// bytes). Such marks passed and answered all mail 452 4.3.1. It reports
// whether it refused any (the order check is then left out).
func wrongUnit(v *validator, key string, w Watermark) bool {
	bad := false
	for _, m := range []struct {
		name string
		x    float64
	}{{"normal", w.Normal}, {"medium", w.Medium}, {"high", w.High}} {
		switch key {
		case "disk_used_percent", "memory_percent":
			if m.x > 0 && m.x < 1 {
				v.add(fmt.Sprintf("back_pressure.%s.%s %v is below 1: marks are percentages (write %.4g for %.4g %%)",
					key, m.name, m.x, m.x*100, m.x*100), "back_pressure", key, m.name)
				bad = true
			}
		case "database_size":
			if m.x > 0 && m.x < MinDatabaseSizeMark {
				hint := "16GiB"
				if m.x < 1024 {
					hint = fmt.Sprintf("%vGiB", m.x)
				}
				v.addSized(fmt.Sprintf("back_pressure.%s.%s %v bytes is below 1MiB: a size without a unit is bytes (write e.g. %s)",
					key, m.name, m.x, hint),
					fmt.Sprintf("back_pressure.%s.%s "+unitValue+" (%v bytes) is below 1MiB, the least database size mark",
						key, m.name, m.x), "back_pressure", key, m.name)
				bad = true
			}
		}
	}
	return bad
}

// MinMessageSizeLimit is the least message size limit: a few header
// lines are longer, so a limit below it (max_message_size: 36, bytes,
// for 36MiB) refuses every message or leaves every route too small.
const MinMessageSizeLimit = 1000

// messageSizeTooSmall refuses a nonzero message size limit below
// MinMessageSizeLimit, naming the unit (rt45 F4's siblings).
func messageSizeTooSmall(v *validator, label string, n Size, path ...any) {
	if n > 0 && n < MinMessageSizeLimit {
		v.addSized(fmt.Sprintf("%s %d bytes is below %d: a size without a unit is bytes (write e.g. %dMiB); no message would fit",
			label, n, MinMessageSizeLimit, n),
			fmt.Sprintf("%s "+unitValue+" (%d bytes) is below %d bytes, the least message size limit; no message would fit",
				label, n, MinMessageSizeLimit), path...)
	}
}

// Floors of the sizes and rates whose value in the wrong unit (a number
// without a unit is bytes, or bytes per second) would refuse mail or
// switch a protection off (rt45 F4's siblings): each is refused at its
// line by unitFloor, naming the unit. 0 keeps its meaning where it has
// one (no bound, off).
const (
	// MinDataRateFloor: min_data_rate: 4, meant as 4 KiB/s, let a
	// client hold a session for days with a trickle.
	MinDataRateFloor = 100
	// MinQuarantineSize: quarantine.max_size: 2, meant as 2GiB, refused
	// every message with a quarantine verdict (452 4.3.1).
	MinQuarantineSize = 1 << 20
	// MinDumpsterSize: max_dumpster_size_per_database: 18, meant as
	// 18MiB, kept no copy a mailbox failover could be redelivered from.
	MinDumpsterSize = 1 << 20
	// MinBodyMemoryLimit: body_memory_limit: 256, meant as 256MiB,
	// spooled every body at once and refused what cannot spool (452).
	MinBodyMemoryLimit = 1 << 20
	// MinHeaderSizeLimit: a header section of real mail (Received,
	// DKIM and ARC chains) is often several KiB; max_header_size: 64,
	// meant as 64KiB, refused most mail with 552 5.3.4.
	MinHeaderSizeLimit = 16 << 10
	// MinTrackingMaxSize: tracking.max_size: 100, meant as 100MiB,
	// rotated the log at every few lines and dropped the tracking (and
	// audit) history past max_files rotations.
	MinTrackingMaxSize = 4 << 10
	// MinSpoolThreshold: spool_threshold: 256, meant as 256KiB, wrote
	// every body to a spool file of its own (a file and its fsync per
	// message) and held none in memory.
	MinSpoolThreshold = 16 << 10
	// MinBounceSizeLimit: bounce_size_limit: 50, meant as 50KiB,
	// returned no message whole in a DSN, not even a one-line one:
	// every DSN carried the header section only.
	MinBounceSizeLimit = 4 << 10
)

// unitFloor refuses a nonzero n below floor at path, naming the value in
// bytes, the floor (floorText) and, for a small number, the number with
// the unit it was most likely meant in (unit; else example).
func unitFloor(v *validator, label string, n, floor int64, floorText, unit, example, why string, path ...any) {
	if n <= 0 || n >= floor {
		return
	}
	if n < 1024 {
		example = fmt.Sprintf("%d%s", n, unit)
	}
	v.addSized(fmt.Sprintf("%s %d bytes is below %s: a size without a unit is bytes (write e.g. %s); %s", label, n, floorText, example, why),
		fmt.Sprintf("%s "+unitValue+" (%d bytes) is below %s, the least it may be; %s", label, n, floorText, why), path...)
}

// subSecond refuses a duration above 0 and below a second at path: a
// duration is written with its unit, so such a value is a sub-second
// unit written for another (300ms for 300s) in a setting where it cuts
// every session or delivery (why).
func subSecond(v *validator, label string, d Duration, why string, path ...any) {
	if d > 0 && d.D() < time.Second {
		v.add(fmt.Sprintf("%s %s is below 1s: %s (ms is milliseconds: write e.g. 5m or 300s)", label, d.D(), why), path...)
	}
}

// countMarksOutside refuses, at each mark's line, a count watermark's
// mark outside its range (intBounds), and reports whether it refused
// any (the order check is then left out).
func countMarksOutside(v *validator, key string, w CountWatermark) bool {
	bad := false
	for _, m := range []struct {
		name string
		x    int
	}{{"normal", w.Normal}, {"medium", w.Medium}, {"high", w.High}} {
		if b, _ := boundOf([]any{"back_pressure", key, m.name}); int64(m.x) < b.min || int64(m.x) > b.max {
			intIn(v, m.x, "back_pressure", key, m.name)
			bad = true
		}
	}
	return bad
}
