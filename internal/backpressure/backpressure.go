package backpressure

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
)

// Level is how much the server protects itself.
type Level int

// Levels: normal accepts everything; medium refuses
// anonymous senders and slows the rest; high refuses all new mail.
const (
	Normal Level = iota
	Medium
	High
)

// MarshalText writes the level's name (JSON, logs).
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level's name.
func (l *Level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "normal":
		*l = Normal
	case "medium":
		*l = Medium
	case "high":
		*l = High
	default:
		return fmt.Errorf("unknown back pressure level %q", b)
	}
	return nil
}

func (l Level) String() string {
	switch l {
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "normal"
}

// Watermark is where a resource's level changes. A value at or above
// Medium (High) raises it to medium (high); the level falls only when
// the value is below the next lower mark: high to medium below Medium,
// to normal below Normal. High 0 means the resource is not watched.
//
// Its JSON keys are snake_case as the API's others (rt20d-F7); an
// answer of an earlier release ("Normal") reads too: encoding/json
// matches a key in any case.
type Watermark struct {
	Normal float64 `json:"normal"`
	Medium float64 `json:"medium"`
	High   float64 `json:"high"`
}

// next is the hysteresis step.
func next(cur Level, v float64, w Watermark) Level {
	if w.High <= 0 {
		return Normal
	}
	switch {
	case v >= w.High:
		return High
	case v < w.Normal:
		return Normal
	case cur == High && v >= w.Medium:
		return High
	case v >= w.Medium || cur != Normal:
		return Medium
	}
	return Normal
}

// Resource is one watched quantity: larger is worse.
type Resource struct {
	Name string
	Mark Watermark
	Read func() (float64, error)
}

// ResourceState is one resource at the last check.
type ResourceState struct {
	Name  string    `json:"resource"`
	Level Level     `json:"level"`
	Value float64   `json:"value"`
	Mark  Watermark `json:"watermark"`
	Err   string    `json:"error,omitempty"`
}

// State is the outcome of a check: the highest level of any resource,
// the first resource at that level, and every resource.
type State struct {
	Level     Level           `json:"level"`
	Resource  string          `json:"resource,omitempty"`
	Value     float64         `json:"value,omitempty"`
	Checked   time.Time       `json:"checked"`
	Resources []ResourceState `json:"resources"`
}

// Monitor samples the resources and keeps each one's level.
type Monitor struct {
	mu     sync.Mutex // serialises Check
	res    []Resource
	levels []Level
	state  atomic.Pointer[State]
	log    *slog.Logger

	interval atomic.Int64 // Run's period (nanoseconds); SetInterval changes it

	level    prometheus.Gauge
	resLevel *prometheus.GaugeVec
	resValue *prometheus.GaugeVec
}

// New makes a monitor of res, with its metrics registered on reg. Until
// the first Check the level is normal.
func New(res []Resource, log *slog.Logger, reg prometheus.Registerer) *Monitor {
	m := &Monitor{res: res, levels: make([]Level, len(res)), log: log,
		level: prometheus.NewGauge(prometheus.GaugeOpts{Name: "umbra_back_pressure_level",
			Help: "Back pressure level: 0 normal, 1 medium (anonymous mail refused, the rest slowed), 2 high (all new mail refused)."}),
		resLevel: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "umbra_back_pressure_resource_level",
			Help: "Back pressure level of each watched resource (0 normal, 1 medium, 2 high)."}, []string{"resource"}),
		resValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "umbra_back_pressure_resource_value",
			Help: "Last sampled value of each watched resource, in the unit of its watermarks."}, []string{"resource"}),
	}
	reg.MustRegister(m.level, m.resLevel, m.resValue)
	st := &State{}
	for _, r := range res {
		m.resLevel.WithLabelValues(r.Name).Set(0)
		st.Resources = append(st.Resources, ResourceState{Name: r.Name, Mark: r.Mark})
	}
	m.state.Store(st)
	return m
}

// State is the last check's outcome; cheap, for every MAIL command.
func (m *Monitor) State() State { return *m.state.Load() }

// Check samples every resource, moves each level (a resource that cannot
// be read keeps its level, and the error is reported), and logs a change
// of the overall level with the resource that set it.
func (m *Monitor) Check() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.state.Load()
	st := &State{Checked: time.Now()}
	for i, r := range m.res {
		rs := ResourceState{Name: r.Name, Mark: r.Mark}
		v, err := r.Read()
		if err != nil {
			rs.Err = err.Error()
			if i < len(prev.Resources) {
				rs.Value = prev.Resources[i].Value
			}
		} else {
			rs.Value = v
			m.levels[i] = next(m.levels[i], v, r.Mark)
			m.resValue.WithLabelValues(r.Name).Set(v)
		}
		rs.Level = m.levels[i]
		m.resLevel.WithLabelValues(r.Name).Set(float64(rs.Level))
		if rs.Level > st.Level {
			st.Level, st.Resource, st.Value = rs.Level, r.Name, rs.Value
		}
		st.Resources = append(st.Resources, rs)
	}
	m.level.Set(float64(st.Level))
	if st.Level != prev.Level || (st.Level != Normal && st.Resource != prev.Resource) {
		args := []any{"level", st.Level.String(), "previous", prev.Level.String()}
		if st.Level != Normal {
			args = append(args, "resource", st.Resource, "value", FormatValue(st.Value))
		} else if i := slices.IndexFunc(st.Resources, func(r ResourceState) bool { return r.Name == prev.Resource }); i >= 0 {
			// Back to normal: the resource that set the level left,
			// with its value now (lifert39 F4).
			args = append(args, "resource", prev.Resource, "value", FormatValue(st.Resources[i].Value))
		}
		if st.Level > prev.Level {
			m.log.Warn("back pressure", args...)
		} else {
			m.log.Info("back pressure", args...)
		}
	}
	m.state.Store(st)
	return *st
}

// FormatValue writes a resource's value or watermark the way an operator
// reads it: a byte count or a queue length as the whole number it is, a
// percentage with its fraction, never in exponent form.
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// FormatResourceValue is a value (or watermark) of resource as the
// operator reads it (queue list, rt20d-F7): a percentage with one
// decimal and a sign (94.9%), a size in bytes with its unit (3.3MiB),
// a count as the whole number it is (FormatValue).
func FormatResourceValue(resource string, v float64) string {
	switch {
	case strings.HasSuffix(resource, "_percent"):
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case strings.HasSuffix(resource, "_size"):
		for _, u := range []struct {
			name string
			size float64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if v >= u.size {
				return strconv.FormatFloat(v/u.size, 'f', 1, 64) + u.name
			}
		}
		return FormatValue(v) + "B"
	}
	return FormatValue(v)
}

// Run checks every interval until ctx ends, timed by clk (nil: the
// system clock), whose timers run on the monotonic clock: a step of the
// wall clock neither fires nor delays a check.
func (m *Monitor) Run(ctx context.Context, clk clock.Clock, interval time.Duration) {
	if clk == nil {
		clk = clock.Real{}
	}
	m.interval.CompareAndSwap(0, int64(interval))
	for {
		m.Check()
		t := clk.NewTimer(time.Duration(m.interval.Load()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// SetMarks gives resources new watermarks (a reload), by name; the
// others keep theirs. Each resource keeps its level, and the next Check
// moves it against the new marks, so a level set under the old marks
// falls back only when the new ones say so (hysteresis as ever).
func (m *Monitor) SetMarks(marks map[string]Watermark) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.res {
		if w, ok := marks[m.res[i].Name]; ok {
			m.res[i].Mark = w
		}
	}
}

// SetInterval changes Run's period from its next wait on.
func (m *Monitor) SetInterval(d time.Duration) {
	if d > 0 {
		m.interval.Store(int64(d))
	}
}

// Disk reads the filesystems umbra's files are on: Statfs is umbra's;
// a test gives a fake.
type Disk interface {
	// Usage is the bytes in use on the filesystem holding path and the
	// bytes still available to an unprivileged user (df's Used and Avail).
	Usage(path string) (used, avail uint64, err error)
	// File is the device of the filesystem holding path (a link
	// followed) and the bytes of that filesystem it takes up.
	File(path string) (dev uint64, allocated int64, err error)
}

// Statfs is Disk by statfs(2) and stat(2).
type Statfs struct{}

// Usage implements Disk.
func (Statfs) Usage(path string) (used, avail uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, 0, err
	}
	bs := uint64(s.Frsize) // the unit of the block counts
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	return (s.Blocks - s.Bfree) * bs, s.Bavail * bs, nil
}

// File implements Disk.
func (Statfs) File(path string) (dev uint64, allocated int64, err error) {
	var s syscall.Stat_t
	if err := syscall.Stat(path, &s); err != nil {
		return 0, 0, err
	}
	return uint64(s.Dev), s.Blocks * 512, nil
}

// Held is space umbra holds in a file and reuses before it takes any
// more from the filesystem: the free pages of a bbolt database, which a
// drained backlog leaves and only a compaction gives back.
type Held struct {
	Path string       // the file
	Free func() int64 // its bytes free for reuse
}

// DiskUsedPercent reads how full the filesystem holding dir is, as the
// share of the space not available to an unprivileged user (df's Use%),
// less the space of held that is on that filesystem: umbra writes there
// before it grows a file, so it is free to umbra, and a level set by a
// backlog falls once the backlog drains — a file of free pages that only
// accepted mail would reuse must not keep refusing that mail. A held file
// that cannot be read counts as used (an unreadable file is no reason to
// accept more mail); at most the bytes the file takes up count as free.
func DiskUsedPercent(dir string, disk Disk, held ...Held) func() (float64, error) {
	return func() (float64, error) {
		used, avail, err := disk.Usage(dir)
		if err != nil {
			return 0, err
		}
		if len(held) > 0 {
			dev, _, err := disk.File(dir)
			if err != nil {
				return 0, err
			}
			for _, h := range held {
				hdev, size, err := disk.File(h.Path)
				if err != nil || hdev != dev {
					continue
				}
				free := uint64(min(max(h.Free(), 0), size))
				free = min(free, used)
				used, avail = used-free, avail+free
			}
		}
		if used+avail == 0 {
			return 0, nil
		}
		return 100 * float64(used) / float64(used+avail), nil
	}
}

// MemoryPercent reads the memory the Go runtime holds from the system
// (less what it returned) as a share of physical memory.
func MemoryPercent() func() (float64, error) {
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	var mu sync.Mutex
	return func() (float64, error) {
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err != nil {
			return 0, err
		}
		phys := float64(si.Totalram) * float64(si.Unit)
		if phys <= 0 {
			return 0, nil
		}
		held := func() float64 {
			mu.Lock()
			defer mu.Unlock() // Uint64 panics on a sample of another kind: the lock is not kept
			metrics.Read(samples)
			return float64(samples[0].Value.Uint64()) - float64(samples[1].Value.Uint64())
		}()
		return 100 * held / phys, nil
	}
}
