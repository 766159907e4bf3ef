package header

import (
	"bytes"
	"testing"
)

// A line FieldStart takes for a field is the same field, under the same
// name, for the header tools (fields, and so Count, Values, Remove), so
// umbra's header work and the milter replay, which splits with
// FieldStart, name every field alike ("From :" is From for both).
func FuzzFieldStartAgreesWithFields(f *testing.F) {
	for _, s := range []string{"From: a", "From : a", "Subject\t: x", "X-A:", ":", " a: b", "a b: c", "a", "\xc3\xa4: x", "From \t :v"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\r\n") {
			return // one line
		}
		kind, n := FieldStart(line)
		fs, _ := fields(append(line, "\r\n"...))
		if kind != Field {
			return // not a field: the receive side ends the header section there
		}
		if len(fs) != 1 || fs[0].name != string(line[:n]) {
			t.Fatalf("FieldStart: a field named %q; fields found %v", line[:n], fs)
		}
		if Count(append(line, "\r\n"...), string(line[:n])) != 1 {
			t.Fatalf("Count does not find the field %q in %q", line[:n], line)
		}
	})
}

func TestFieldStart(t *testing.T) {
	for line, want := range map[string][2]int{
		"From: a":      {Field, 4},
		"From : a":     {Field, 4},
		"Subject\t: x": {Field, 7},
		"X:":           {Field, 1},
		":":            {NotField, 0},
		" a: b":        {NotField, 0},
		"a b: c":       {NotField, 0},
		"\xc3\xa4: x":  {NotField, 0},
		"From":         {Undecided, 0},
		"From ":        {Undecided, 0},
	} {
		if k, n := FieldStart([]byte(line)); k != want[0] || n != want[1] {
			t.Errorf("FieldStart(%q) = %d, %d; want %d, %d", line, k, n, want[0], want[1])
		}
	}
}
