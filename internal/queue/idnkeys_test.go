package queue

import (
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The duplicate record of a final delivery keys its recipient under one
// normal form (mailaddr.AddrKey: an internationalised domain as its
// A-label), so both forms of one address are one delivery; a record an
// earlier release wrote (the address lower-cased) is still found.
func TestDeliveredRecordOneKeyBothForms(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	if err := s.Update(t.Context(), func(tx *Tx) error {
		if err := tx.RecordDelivered("DB1", "org-1", "anna@Bücher.example", now); err != nil {
			return err
		}
		// As an earlier release wrote it: the address lower-cased.
		h := sha256.Sum256([]byte("org-2" + "\x00" + strings.ToLower("ANNA@BÜCHER.example")))
		return tx.tx.Bucket(bucketDelivered).Put(append(dbPrefix("DB1"), h[:16]...), putTime(now))
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		for _, a := range []string{"anna@bücher.example", "ANNA@xn--bcher-kva.example", "anna@XN--BCHER-KVA.example"} {
			if !tx.WasDelivered("DB1", "org-1", a) {
				t.Errorf("org-1 to %s: the record of anna@Bücher.example not found", a)
			}
		}
		if !tx.WasDelivered("DB1", "org-2", "ANNA@BÜCHER.example") || !tx.WasDelivered("DB1", "org-2", "anna@bücher.example") {
			t.Error("the record an earlier release wrote is not found")
		}
		if tx.WasDelivered("DB1", "org-1", "bob@bücher.example") {
			t.Error("another recipient found")
		}
		return nil
	})
}
