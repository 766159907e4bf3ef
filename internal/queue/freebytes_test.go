package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// FreeBytes is space a write reuses without growing queue.db (back
// pressure counts it as free disk, disk_used_percent): pages freed while
// a read transaction older than their freeing is open (a db backup's
// copy, a listing) are pending, not reusable until it ends, and count as
// none. Before, FreeBytes was bbolt's FreeAlloc, which counts the
// pending pages too: a drain during a backup made a full disk look free,
// and the writes that took that for room grew the file instead (and
// waited on the reader to remap it).
func TestFreeBytesCountsNoPendingPages(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n, size = 40, 200 << 10
	value := make([]byte, size)
	for i := range n {
		if err := st.UpdateTLSReport(ctx, "2026-12-06", fmt.Sprintf("d%02d.example", i), func([]byte) []byte { return value }); err != nil {
			t.Fatal(err)
		}
	}
	// Free pages to spare, so that the drain below takes its pages from
	// them and grows no file while the reader is open (a remap waits on
	// every reader).
	for i := range n {
		if err := st.UpdateTLSReport(ctx, "2026-12-05", fmt.Sprintf("p%02d.example", i), func([]byte) []byte { return value }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := st.DeleteTLSReport(ctx, "2026-12-05", fmt.Sprintf("p%02d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := st.db.Begin(false) // held across the drain, as a backup's copy is
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := st.DeleteTLSReport(ctx, "2026-12-06", fmt.Sprintf("d%02d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	stats := st.db.Stats()
	if stats.PendingPageN == 0 {
		t.Fatalf("no pending pages with a reader open across the drain: %+v", stats)
	}
	reusable := int64(stats.FreePageN * st.db.Info().PageSize)
	if got := st.FreeBytes(); got > reusable {
		t.Errorf("FreeBytes %d with a reader open across the drain: bbolt can reuse %d (%d free pages), %d pages are pending until the reader ends",
			got, reusable, stats.FreePageN, stats.PendingPageN)
	}
	reader.Rollback()
	// The reader gone, the next commit frees them: they count again.
	if err := st.DeleteTLSReport(ctx, "2026-12-06", "d00.example"); err != nil {
		t.Fatal(err)
	}
	if got := st.FreeBytes(); got < n*size {
		t.Errorf("FreeBytes %d once the reader ended, want the %d bytes drained", got, n*size)
	}
}
