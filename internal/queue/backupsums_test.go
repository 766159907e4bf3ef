package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backupWithBodies writes a backup of a database holding small bodies
// stored whole, one spooled body (carried whole in the backup) and a
// spooled dumpster copy, each with a marker of its own to find it in the
// backup file. It returns the backup's path, the database's path (the
// server stopped) and the ids.
func backupWithBodies(t *testing.T) (backup, live string, small, big ID, dump DumpsterKey) {
	t.Helper()
	dir := t.TempDir()
	live = filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		content := "From: a@example.org\r\n\r\n" + strings.Repeat("small body line\r\n", 200)
		if i == 7 {
			small = m.ID
			content += "MARKER-SMALL-BODY-7\r\n" + strings.Repeat("tail\r\n", 50)
		}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(content)) }); err != nil {
			t.Fatal(err)
		}
	}
	bigBody := append(bigContent(300<<10), []byte("MARKER-SPOOLED-BODY\r\n")...)
	bigBody = append(bigBody, bigContent(300<<10)...)
	b := spooled(t, s, bigBody)
	m := msg(s, "a@example.org", "c@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	big = m.ID
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	dumpBody := append(bigContent(200<<10), []byte("MARKER-DUMPSTER-BODY\r\n")...)
	dumpBody = append(dumpBody, bigContent(100<<10)...)
	db := spooled(t, s, dumpBody)
	dm := msg(s, "a@example.org", "d@example.test")
	dm.State = Ready // as dumpster.Copy keeps it: a record of state 0 does not decode (db verify names it)
	dump = DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: dm.ID}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DumpsterPutBody(dump, dm, db) }); err != nil {
		t.Fatal(err)
	}
	backup = filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return backup, live, small, big, dump
}

// flipped copies backup with 4 bytes inverted inside the marker: a
// value's content, not the file's page structure.
func flipped(t *testing.T, backup, marker string) string {
	t.Helper()
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		t.Fatalf("marker %s not in the backup", marker)
	}
	if bytes.Index(data[i+1:], []byte(marker)) >= 0 {
		t.Fatalf("marker %s twice in the backup", marker)
	}
	for j := i + 8; j < i+12; j++ {
		data[j] ^= 0xff
	}
	out := filepath.Join(filepath.Dir(backup), "flip-"+marker+".db")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// A backup whose bytes changed after it was written (bit rot, a bad
// copy off the machine and back) is refused before anything is
// replaced, naming what is damaged: a body stored whole, a spooled
// body carried in the backup, a dumpster copy.
func TestRestoreRefusesChangedBodies(t *testing.T) {
	backup, live, small, big, dump := backupWithBodies(t)
	// The live database exists, so that "unchanged" means something.
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ marker, want string }{
		{"MARKER-SMALL-BODY-7", "message " + small.String() + ": its body"},
		{"MARKER-SPOOLED-BODY", "message " + big.String() + ": its body"},
		{"MARKER-DUMPSTER-BODY", "dumpster copy of message " + dump.ID.String()},
	} {
		bad := flipped(t, backup, c.marker)
		before, _ := os.ReadFile(live)
		asideBefore, _ := filepath.Glob(live + ".replaced-*")
		kept, err := Restore(bad, live)
		if err == nil {
			t.Fatalf("%s: a backup with changed bytes was restored (kept %s)", c.marker, kept)
		}
		t.Logf("%s: %v", c.marker, err)
		if !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the refusal does not name %q: %v", c.marker, c.want, err)
		}
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Errorf("%s: the database changed", c.marker)
		}
		if aside, _ := filepath.Glob(live + ".replaced-*"); len(aside) != len(asideBefore) {
			t.Errorf("%s: a refused restore kept a replaced database: %v", c.marker, aside)
		}
		if _, err := os.Stat(live + ".restore"); err == nil {
			t.Errorf("%s: the copy was left behind", c.marker)
		}
	}
	// The sound backup is restored, and the restored database holds
	// no checksums of its own (a later backup records new ones).
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBackupSums) != nil {
			t.Error("the restored database kept the backup's checksums")
		}
		return nil
	})
	again := filepath.Join(t.TempDir(), "again.db")
	if _, err := s.WriteBackup(again); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := VerifyBackup(again); err != nil {
		t.Fatalf("a backup of a restored database: %v", err)
	}
}

// A change in a record (not a body) and in an index bucket is found
// too; so is a change of the checksums themselves.
func TestRestoreRefusesChangedRecordsAndIndexes(t *testing.T) {
	backup, live, _, _, _ := backupWithBodies(t)
	edit := func(name string, fn func(tx *bolt.Tx) error) string {
		data, _ := os.ReadFile(backup)
		out := filepath.Join(filepath.Dir(backup), name)
		os.WriteFile(out, data, 0o600)
		db, err := bolt.Open(out, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return out
	}
	cases := map[string]struct {
		fn   func(tx *bolt.Tx) error
		want string
	}{
		"record": {func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketMessages).Cursor().First()
			v = bytes.Clone(v)
			v[len(v)-1] ^= 1
			return tx.Bucket(bucketMessages).Put(k, v)
		}, ": its record"},
		"index": {func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketSchedule).Cursor().First()
			return tx.Bucket(bucketSchedule).Delete(k)
		}, `"schedule"`},
		"sums": {func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketBackupSums)
			k, v := b.Cursor().Last()
			v = bytes.Clone(v)
			v[0] ^= 1
			return b.Put(k, v)
		}, "checksum table"},
		"missing record": {func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketMessages).Cursor().Last()
			return tx.Bucket(bucketMessages).Delete(k)
		}, "missing"},
	}
	for name, c := range cases {
		bad := edit(name+".db", c.fn)
		_, err := Restore(bad, live)
		if err == nil {
			t.Fatalf("%s: restored", name)
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the refusal does not name %q", name, c.want)
		}
	}
}

// A backup without checksums (written by an umbra before they were
// recorded) is refused unless the operator accepts it unverified.
func TestRestoreBackupWithoutChecksums(t *testing.T) {
	backup, live, _, _, _ := backupWithBodies(t)
	db, err := bolt.Open(backup, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketBackupSums) })
	db.Close()
	before, _ := os.ReadFile(live)
	_, err = Restore(backup, live)
	if !errors.Is(err, ErrNoChecksums) {
		t.Fatalf("an unverifiable backup: %v", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "--unverified") {
		t.Errorf("the refusal does not say how to restore it anyway: %v", err)
	}
	if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
		t.Fatal("a refused restore changed the database")
	}
	if _, err := RestoreWith(backup, live, RestoreOptions{Unverified: true}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Restores in the same second (a second attempt right after the first)
// keep every replaced database, each under a name of its own, and its
// spool files beside it.
func TestRestoresInOneSecondKeepEach(t *testing.T) {
	backup, live, _, _, _ := backupWithBodies(t)
	// The spool files of the stopped database (moved aside with it).
	spool := filepath.Join(filepath.Dir(live), "spool")
	if ents, _ := os.ReadDir(spool); len(ents) == 0 {
		t.Fatal("the database has no spool files")
	}
	// Names of this second and the next are taken already, as by an
	// earlier restore.
	now := time.Now().UTC()
	for _, at := range []time.Time{now, now.Add(time.Second)} {
		os.WriteFile(live+".replaced-"+at.Format("20060102T150405Z"), []byte("earlier"), 0o600)
	}
	var kept []string
	for i := 0; i < 3; i++ {
		k, err := Restore(backup, live)
		if err != nil {
			t.Fatalf("restore %d: %v", i+1, err)
		}
		kept = append(kept, k)
	}
	seen := map[string]bool{}
	for _, k := range kept {
		if seen[k] || k == "" {
			t.Fatalf("kept names %v", kept)
		}
		seen[k] = true
		if data, _ := os.ReadFile(k); string(data) == "earlier" {
			t.Fatalf("%s: an earlier kept file was replaced", k)
		}
	}
	// The first restore replaced the database with spool files: they
	// are beside its kept file, under the same suffix.
	suffix := strings.TrimPrefix(kept[0], live)
	aside := filepath.Join(filepath.Dir(live), "spool"+suffix)
	if ents, err := os.ReadDir(aside); err != nil || len(ents) == 0 {
		t.Fatalf("the replaced database's spool files are not beside it as %s: %v", aside, err)
	}
}
