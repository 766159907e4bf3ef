package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bigHeadContent is a message whose header section is past bodyAloneMin
// (so its head is stored in a bucket of its own) and whose whole is past
// the spool threshold.
func bigHeadContent(headBytes, total int) (content []byte, headLen int) {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: big head\r\n")
	for i := 0; b.Len() < headBytes; i++ {
		fmt.Fprintf(&b, "X-%05d: a field of a long header section\r\n", i)
	}
	b.WriteString("\r\n")
	headLen = b.Len()
	for b.Len() < total {
		b.WriteString("0123456789abcdefghijklmnopqrstuvwxyz 0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	}
	return b.Bytes(), headLen
}

// A spooled body whose header section is larger than a body stored as a
// value (bodyAloneMin) is stored, read back, copied to the dumpster,
// replaced, backed up, restored and compacted (to either schema) whole:
// its head takes the bucket form like any long body.
func TestSpooledBodyWithLongHeaderSection(t *testing.T) {
	for _, headBytes := range []int{bodyAloneMin - 100, bodyAloneMin + 1, 40 << 10, 1 << 20} {
		t.Run(fmt.Sprint(headBytes), func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			content, hl := bigHeadContent(headBytes, headBytes+300<<10)
			b := spooled(t, s, content[hl:])
			b, err := b.WithHead(content[:hl], 0)
			if err != nil {
				t.Fatal(err)
			}
			m := msg(s, "a@example.org", "b@example.test")
			m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
			key := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
			if err := s.Update(ctx, func(tx *Tx) error {
				if err := tx.PutNewBody(m, b); err != nil {
					return fmt.Errorf("PutNewBody: %w", err)
				}
				if err := tx.DumpsterPutBody(key, m, b); err != nil {
					return fmt.Errorf("DumpsterPutBody: %w", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			check := func(s *Store, what string) {
				t.Helper()
				if err := s.View(func(tx *Tx) error {
					got, err := tx.Body(m.ID)
					if err != nil || !bytes.Equal(got, content) {
						t.Errorf("%s: message body %d bytes (want %d): %v", what, len(got), len(content), err)
					}
					d, err := tx.DumpsterBody(key)
					if err != nil || !bytes.Equal(d, content) {
						t.Errorf("%s: dumpster body %d bytes (want %d): %v", what, len(d), len(content), err)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			check(s, "stored")
			// Replaced by a copy of itself (a resubmission names the file again).
			m2 := msg(s, "a@example.org", "c@example.test")
			m2.State, m2.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := s.Update(ctx, func(tx *Tx) error {
				db, err := tx.DumpsterBodyOf(key)
				if err != nil {
					return err
				}
				return tx.PutNewBody(m2, db)
			}); err != nil {
				t.Fatal(err)
			}
			other := t.TempDir()
			backup := filepath.Join(other, "backup.db")
			if _, err := s.WriteBackup(backup); err != nil {
				t.Fatal(err)
			}
			live := filepath.Join(other, "data", "queue.db")
			os.MkdirAll(filepath.Dir(live), 0o700)
			if _, err := Restore(backup, live); err != nil {
				t.Fatal(err)
			}
			r, err := Open(live, Options{})
			if err != nil {
				t.Fatal(err)
			}
			check(r, "restored")
			r.Close()
			for _, schema := range []int{3, 0} {
				if _, _, err := CompactTo(live, 0, schema); err != nil {
					t.Fatalf("compaction to schema %d: %v", schema, err)
				}
				if schema == 3 {
					continue // read only by a release of that schema; compacted back below
				}
				r, err := Open(live, Options{})
				if err != nil {
					t.Fatal(err)
				}
				check(r, "compacted")
				r.Close()
			}
		})
	}
}
