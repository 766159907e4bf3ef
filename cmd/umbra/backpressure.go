package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/backpressure"
	"umbra/internal/config"
	"umbra/internal/leftover"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// newBackPressure builds the resource monitor of back_pressure (nil when
// it is off) and runs its first check, so that the server starts at the
// level its resources are at.
func newBackPressure(cfg *config.Config, store *queue.Store, srv *smtp.Server, reg prometheus.Registerer, log *slog.Logger) *backpressure.Monitor {
	b := cfg.BackPressure
	if !b.Enabled {
		return nil
	}
	// Both queue lengths come from one walk of the queue index per check.
	var qmu sync.Mutex
	var qAt time.Time
	var qSub, qTotal int
	queues := func(submission bool) func() (float64, error) {
		return func() (float64, error) {
			qmu.Lock()
			defer qmu.Unlock()
			if time.Since(qAt) > b.CheckInterval.D()/2 {
				sub, total := 0, 0
				if err := store.View(func(tx *queue.Tx) error {
					for _, q := range tx.Queues() {
						if q.Name == queue.QueueQuarantine {
							continue // held mail, not work: the database size watches it
						}
						total += q.Count
						if q.Name == queue.QueueSubmission {
							sub += q.Count
						}
					}
					return nil
				}); err != nil {
					return 0, err
				}
				qAt, qSub, qTotal = time.Now(), sub, total
			}
			if submission {
				return float64(qSub), nil
			}
			return float64(qTotal), nil
		}
	}
	m := backpressure.New([]backpressure.Resource{
		{Name: "disk_used_percent", Mark: bw(b.DiskUsedPercent), Read: diskUsedPercent(cfg.Server.DataDir, store, backpressure.Statfs{})},
		{Name: "database_size", Mark: bw(b.DatabaseSize.Marks()), Read: func() (float64, error) { return float64(store.UsedBytes()), nil }},
		{Name: "memory_percent", Mark: bw(b.MemoryPercent), Read: backpressure.MemoryPercent()},
		{Name: "submission_queue", Mark: bw(b.SubmissionQueue.Marks()), Read: queues(true)},
		{Name: "total_queue", Mark: bw(b.TotalQueue.Marks()), Read: queues(false)},
		{Name: "sessions", Mark: bw(b.Sessions.Marks()), Read: func() (float64, error) { return float64(srv.OpenSessions()), nil }},
	}, log, reg)
	m.Check()
	return m
}

// reloadBackPressure applies a reloaded back_pressure section in place:
// watermarks, check interval and slow delay. Each resource keeps its
// level and the check that follows at once moves it against the new
// marks. Turning back pressure on or off needs a restart (the monitor
// and its metrics are made at start): the running section stays in
// next, so the next reload compares against what runs.
func reloadBackPressure(m *backpressure.Monitor, srv *smtp.Server, cur, next *config.Config, log *slog.Logger) {
	if next.BackPressure.Enabled != cur.BackPressure.Enabled {
		log.Warn("reloaded; these settings changed but apply only after a restart", "settings", []string{"back_pressure.enabled"})
		next.BackPressure = cur.BackPressure
		return
	}
	if m == nil || next.BackPressure == cur.BackPressure {
		return
	}
	b := next.BackPressure
	m.SetMarks(map[string]backpressure.Watermark{
		"disk_used_percent": bw(b.DiskUsedPercent), "database_size": bw(b.DatabaseSize.Marks()),
		"memory_percent": bw(b.MemoryPercent), "submission_queue": bw(b.SubmissionQueue.Marks()),
		"total_queue": bw(b.TotalQueue.Marks()), "sessions": bw(b.Sessions.Marks()),
	})
	m.SetInterval(b.CheckInterval.D())
	srv.SetBackPressure(m.State, b.SlowDelay.D())
	st := m.Check()
	log.Info("back pressure settings applied", "settings", changedKeys("back_pressure", cur.BackPressure, next.BackPressure),
		"level", st.Level.String())
}

// diskUsedPercent is the disk_used_percent resource: how full the
// filesystem holding dataDir is, read through disk, the free pages of
// queue.db counted as free when it is on that filesystem (umbra reuses
// them before it grows the file: a drained backlog lowers the level
// without a compaction) — or, where the spool directory is a
// filesystem of its own (a mount at data_dir/spool), how full that one
// is when it is the fuller: large bodies are written there, and a full
// spool would fail each at the end of its DATA rather than refuse the
// mail at MAIL. Spool files need no free-pages rule: a body's file is
// removed when the last message naming it goes (and a failed removal
// is retried every minute), which frees its space at once.
//
// The space reserve (queue/spacereserve.go) counts as used whether it is
// whole or given up: while it is given up for a commit that frees room,
// its room is that commit's, not new mail's, and a level lowered by its
// release would take mail again into the room the commit's retry needs.
func diskUsedPercent(dataDir string, store *queue.Store, disk backpressure.Disk) func() (float64, error) {
	disk = reserveCounted{Disk: disk, dataDir: dataDir, store: store}
	data := backpressure.DiskUsedPercent(dataDir, disk,
		backpressure.Held{Path: filepath.Join(dataDir, "queue.db"), Free: store.FreeBytes})
	spoolDir := filepath.Join(dataDir, leftover.SpoolDir)
	spool := backpressure.DiskUsedPercent(spoolDir, disk)
	return func() (float64, error) {
		p, err := data()
		if err != nil {
			return 0, err
		}
		dd, _, err := disk.File(dataDir)
		if err != nil {
			return 0, err
		}
		if sd, _, err := disk.File(spoolDir); err != nil || sd == dd {
			return p, nil // on the data directory's filesystem (or not readable: that one's figure)
		}
		q, err := spool()
		if err != nil {
			return 0, err
		}
		return max(p, q), nil
	}
}

func bw(w config.Watermark) backpressure.Watermark {
	return backpressure.Watermark{Normal: w.Normal, Medium: w.Medium, High: w.High}
}

// printBackPressure adds the back pressure level under queue list's
// table: the level and, above normal, the resource that set it.
func printBackPressure(cmd *cobra.Command, c *admin.Client) {
	st, err := c.BackPressure()
	if err != nil {
		return // off, or a daemon without it
	}
	fmt.Fprintln(cmd.OutOrStdout(), backPressureLine(st))
}

// backPressureCmd is umbra queue backpressure [--json]: the line queue
// list ends with, or with --json every resource (GET /v1/backpressure),
// so that what queue list shows below its table has a --json too
// (rt20d-F4; the queues are queue list --json, the destinations queue
// destinations --json).
func backPressureCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backpressure",
		Short: "Show the back pressure level, the resource that set it, and with --json every resource",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			st, err := c.BackPressure()
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), st)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), backPressureLine(st))
			return err
		},
	}
}

// backPressureLine is the level and, above normal, the resource that
// set it with its watermarks, in their units.
func backPressureLine(st backpressure.State) string {
	line := "Back pressure: " + st.Level.String()
	if st.Level != backpressure.Normal {
		shown := func(v float64) string { return backpressure.FormatResourceValue(st.Resource, v) }
		line += fmt.Sprintf(" (%s at %s)", st.Resource, shown(st.Value))
		for _, r := range st.Resources {
			if r.Name == st.Resource {
				line += fmt.Sprintf("; watermarks normal %s, medium %s, high %s", shown(r.Mark.Normal),
					shown(r.Mark.Medium), shown(r.Mark.High))
			}
		}
	}
	return line
}

// pickupPaused holds the pickup directory at high back pressure (nil:
// back pressure is off).
func pickupPaused(m *backpressure.Monitor) func() bool {
	if m == nil {
		return nil
	}
	return func() bool { return m.State().Level == backpressure.High }
}

// reserveCounted is disk with the bytes of a space reserve that is not
// whole counted as used on the data directory's filesystem (and taken
// from what is available there).
type reserveCounted struct {
	backpressure.Disk
	dataDir string
	store   *queue.Store
}

// Usage implements backpressure.Disk.
func (d reserveCounted) Usage(path string) (used, avail uint64, err error) {
	used, avail, err = d.Disk.Usage(path)
	if err != nil {
		return used, avail, err
	}
	held, size := d.store.SpaceReserveHeld()
	if held || size <= 0 {
		return used, avail, nil
	}
	pd, _, perr := d.Disk.File(path)
	dd, _, derr := d.Disk.File(d.dataDir)
	if perr != nil || derr != nil || pd != dd {
		return used, avail, nil
	}
	missing := min(uint64(size), avail)
	return used + missing, avail - missing, nil
}

// spaceReserveCheck is how often the daemon looks whether a space
// reserve given up on a full disk can be made again.
const spaceReserveCheck = 10 * time.Second

// restoreSpaceReserve makes the space reserve again (queue
// spacereserve.go) once the file system has room, until ctx ends.
func restoreSpaceReserve(ctx context.Context, store *queue.Store) {
	t := time.NewTicker(spaceReserveCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			store.RestoreSpaceReserve()
		}
	}
}
