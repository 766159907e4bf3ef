package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procRSS reads this process's anonymous and file-backed resident
// memory (bytes) from /proc/self/status.
func procRSS() (anon, file int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			anon = n << 10
		case "RssFile":
			file = n << 10
		}
	}
	return anon, file
}

// rssPeak samples procRSS every 5 ms while fn runs and returns the
// peaks, counted from the heap given back to the system first.
func rssPeak(fn func()) (anon, file int64) {
	debug.FreeOSMemory() // what an earlier step left is not counted
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			a, f := procRSS()
			anon, file = max(anon, a), max(file, f)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return anon, file
}

// BenchmarkBackupSpooledBodies backs up, verifies and restores a queue
// of UMBRA_BENCH_BODIES (20) spooled bodies of UMBRA_BENCH_BODY_MIB (25)
// MiB each and reports the peak resident memory of each step.
//
//	flock -o /tmp/umbra-bench.lock go test -run '^$' -bench BackupSpooledBodies -benchtime 1x ./internal/queue/
func BenchmarkBackupSpooledBodies(b *testing.B) {
	bodies, size := 20, 25
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_BODIES")); err == nil {
		bodies = v
	}
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_BODY_MIB")); err == nil {
		size = v
	}
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	s, err := Open(filepath.Join(dir, "data", "queue.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	line := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz 0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 800)
	for i := range bodies {
		w, err := s.NewSpool()
		if err != nil {
			b.Fatal(err)
		}
		w.Write([]byte("From: a@example.org\r\nSubject: big " + strconv.Itoa(i) + "\r\n\r\n"))
		for w.Len() < int64(size)<<20 {
			w.Write(line)
		}
		body, err := w.Finish()
		if err != nil {
			b.Fatal(err)
		}
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, body) }); err != nil {
			b.Fatal(err)
		}
	}
	for n := 0; n < b.N; n++ {
		backup := filepath.Join(dir, "backup-"+strconv.Itoa(n)+".db")
		var f *os.File
		a, fl := rssPeak(func() {
			f, err = os.Create(backup + ".raw")
			if err == nil {
				_, err = s.Backup(f, nil)
				f.Close()
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(a)/(1<<20), "backup-peak-rss-anon-MiB")
		b.ReportMetric(float64(fl)/(1<<20), "backup-peak-rss-file-MiB")
		a, fl = rssPeak(func() {
			_, err = SaveBackup(backup, func(w io.Writer) (int64, error) {
				src, err := os.Open(backup + ".raw")
				if err != nil {
					return 0, err
				}
				defer src.Close()
				return bufio.NewReader(src).WriteTo(w)
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(backup + ".raw")
		b.ReportMetric(float64(a)/(1<<20), "save-peak-rss-anon-MiB")
		b.ReportMetric(float64(fl)/(1<<20), "save-peak-rss-file-MiB")
		a, fl = rssPeak(func() { err = VerifyBackup(backup) })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(a)/(1<<20), "verify-peak-rss-anon-MiB")
		b.ReportMetric(float64(fl)/(1<<20), "verify-peak-rss-file-MiB")
		live := filepath.Join(dir, "restored-"+strconv.Itoa(n), "queue.db")
		os.MkdirAll(filepath.Dir(live), 0o700)
		a, fl = rssPeak(func() { _, err = Restore(backup, live) })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(a)/(1<<20), "restore-peak-rss-anon-MiB")
		b.ReportMetric(float64(fl)/(1<<20), "restore-peak-rss-file-MiB")
		os.Remove(backup)
		os.RemoveAll(filepath.Dir(live))
	}
}
