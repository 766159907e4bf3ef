package leftover

import "testing"

// OPS-3 (rt32c F1): the names a start or a sweep removes, and none else.
func TestNamesAStartOrSweepRemoves(t *testing.T) {
	for base, want := range map[string]bool{
		".queue.db.snapshot-777":     true,
		".queue.db.snapshot-spool-1": true,
		".queue.db.snapshot-":        false,
		"queue.db.snapshot-1":        false,
		"queue.db.compact":           true,
		"queue.db-compact":           true,
		"queue.db.restore":           true,
		"queue.db.restore-compact":   true,
		"queue.db.restore-suffix":    true,
		"spool.restore":              true,
		"peerwait":                   true,
		"peerwait.slots":             false,
		"queue.db.cmdlock":           true,
		"queue.db":                   false,
		"queue.db.replaced-1":        false,
	} {
		if _, got := Of("/data/queue.db", base); got != want {
			t.Errorf("Of(%q) = %v, want %v", base, got, want)
		}
	}
	for base, want := range map[string]bool{
		".b.db.partial-L12-abc":     true,
		".b.db.partial-12-abc":      true,
		".b.db.partial-abc":         false, // an older release's: kept by the sweep
		".umbra-export-L3-x.eml":    true,
		".umbra-export-3-x.eml":     true,
		".umbra-export-L3-x.txt":    false,
		"b.db.partial-L12-abc":      false,
		".partial-L1-x":             false,
		".a.partial-x.partial-L1-y": true, // a partial copy of a backup to a.partial-x
		".a.partial-x.partial-y":    false,
		"backup-2026-12-05.db":      false,
	} {
		if got := Swept(base) != ""; got != want {
			t.Errorf("Swept(%q) = %v, want %v", base, got, want)
		}
	}
}

// OPS-3 (rt33c F1): a name a start of any umbra removes from its data
// directory is judged by its last name alone, wherever it is.
func TestStartedNamesAreThoseOfEveryDataDirectory(t *testing.T) {
	for base, want := range map[string]bool{
		"queue.db.restore":     true,
		".queue.db.snapshot-5": true,
		"queue.db.compact":     true,
		"queue.db-compact":     true,
		"peerwait":             true,
		"spool.restore":        true,
		"queue.db.cmdlock":     true,
		"peerwait.slots":       true,
		"admin.run":            true,
		"admin.run.tmp":        true,
		"queue.db":             false,
		"b.db.restore":         false,
		"backup.db":            false,
	} {
		if got := Started(base) != ""; got != want {
			t.Errorf("Started(%q) = %v, want %v", base, got, want)
		}
	}
}
