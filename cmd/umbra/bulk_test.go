package main

import (
	"strings"
	"testing"
)

// Ids on standard input: the first field of each line; blank lines and
// the header of `message list` are skipped.
func TestReadIDs(t *testing.T) {
	in := "ID                STATE  AGE\n000661800ABECDF6  retry  3s\n\n  000661800ABF899A\n000661800AC0370D extra fields\n"
	ids, err := readIDs(strings.NewReader(in))
	if err != nil || strings.Join(ids, ",") != "000661800ABECDF6,000661800ABF899A,000661800AC0370D" {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := readIDs(strings.NewReader("\n\nID\n")); err == nil {
		t.Error("no ids is an error")
	}
}

func FuzzReadIDs(f *testing.F) {
	for _, s := range []string{"ID STATE\n000661800ABECDF6 retry\n", "", "\n\n", "a b c\r\nd\n", strings.Repeat("x", 70000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := readIDs(strings.NewReader(s))
		if err == nil && len(ids) == 0 {
			t.Fatal("no ids and no error")
		}
		for _, id := range ids {
			if id == "" || id == "ID" || strings.ContainsAny(id, " \t\n") {
				t.Fatalf("bad id %q from %q", id, s)
			}
		}
	})
}
