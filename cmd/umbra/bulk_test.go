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
	for _, s := range []string{"ID STATE\n000661800ABECDF6 retry\n", "", "\n\n", "a b c\r\nd\n", strings.Repeat("x", 70000), "[{\"id\":\"A\"}]", "{\"id\":\"B\"}\n{\"id\":\"C\"}"} {
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

// Ids from JSON: message list --json (an array) and JSON lines, so that
// `message list --json | message suspend -` acts on the listed messages;
// JSON that is not messages is refused with a message, never read as ids.
func TestReadIDsJSON(t *testing.T) {
	for in, want := range map[string]string{
		"[\n  {\"id\": \"000661800ABECDF6\", \"state\": \"retry\"},\n  {\"id\": \"000661800ABF899A\"}\n]\n": "000661800ABECDF6,000661800ABF899A",
		"  {\"id\":\"A1\",\"rcpts\":[{\"id\":\"x\"}]}\n{\"id\":\"B2\"}\n":                                   "A1,B2",
	} {
		ids, err := readIDs(strings.NewReader(in))
		if err != nil || strings.Join(ids, ",") != want {
			t.Errorf("%q: %v %v, want %s", in, ids, err, want)
		}
	}
	for _, in := range []string{"[]", "[{\"state\":\"retry\"}]", "{\"id\": \"a b\"}", "[1,2]", "{\"id\":\"A\"", "[\"A\"]"} {
		if ids, err := readIDs(strings.NewReader(in)); err == nil {
			t.Errorf("%q read as ids %v", in, ids)
		}
	}
}
