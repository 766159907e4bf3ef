package header

import (
	"bytes"
	"strings"
	"testing"
)

const msg = "Received: from a\r\n\tby b; now\r\n" +
	"Return-Path: <forged@evil.test>\r\n" +
	"received : from c\r\n" +
	"Delivered-To: Bob@Example.test\r\n" +
	"Subject: hi\r\n" +
	"Return-Path :\r\n <again@evil.test>\r\n" +
	"\r\n" +
	"Received: in the body\r\nReturn-Path: in the body\r\n"

func TestCountValuesRemove(t *testing.T) {
	m := []byte(msg)
	if n := Count(m, "Received"); n != 2 {
		t.Errorf("Count(Received) = %d, want 2 (the body's does not count)", n)
	}
	if v := Values(m, "return-path"); len(v) != 2 || v[0] != "<forged@evil.test>" || v[1] != "<again@evil.test>" {
		t.Errorf("Values = %q", v)
	}
	if v := AddressPaths(m, "Delivered-To"); len(v) != 1 || v[0] != "Bob@Example.test" {
		t.Errorf("AddressPaths = %q", v)
	}
	got := string(Remove(m, "Return-Path", "delivered-to"))
	want := "Received: from a\r\n\tby b; now\r\nreceived : from c\r\nSubject: hi\r\n\r\nReceived: in the body\r\nReturn-Path: in the body\r\n"
	if got != want {
		t.Errorf("Remove:\n%q\nwant\n%q", got, want)
	}
	if r := Remove(m, "X-None"); &r[0] != &m[0] {
		t.Error("Remove copied a message it did not change")
	}
}

// Remove leaves no field of the name in the header section, never
// touches the body, and only removes.
func FuzzRemove(f *testing.F) {
	f.Add([]byte(msg), "Return-Path")
	f.Add([]byte("A: b\nc: d\n\nbody"), "c")
	f.Add([]byte(" continuation first\r\nX: y\r\n"), "x")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, m []byte, name string) {
		out := Remove(m, name)
		if name != "" && Count(out, name) != 0 {
			t.Fatalf("%q still has %s", out, name)
		}
		_, end := fields(m)
		_, outEnd := fields(out)
		if !bytes.Equal(m[end:], out[outEnd:]) {
			t.Fatalf("body changed: %q -> %q", m[end:], out[outEnd:])
		}
		if len(out) > len(m) || Count(out, "x-other") > Count(m, "x-other") {
			t.Fatalf("Remove added bytes")
		}
	})
}

// FuzzFieldWalk: the allocation-free walk finds exactly the fields that
// fields lists, and nameIs decides as strings.EqualFold.
func FuzzFieldWalk(f *testing.F) {
	for _, s := range []string{"A: b\r\n c\r\nD: e\r\n\r\nF: g\r\n", " x: y\r\nno colon\r\n\tz: w\r\n", "K: v\n\n", "\r\n", "Ａ: full\r\n", ":x\r\nA :b\r\n"} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, msg []byte, name string) {
		fs, _ := fields(msg)
		i := 0
		for w := (fieldWalk{msg: msg}); w.next(); i++ {
			if i >= len(fs) || string(w.name) != fs[i].name || w.start != fs[i].start || w.end != fs[i].end {
				t.Fatalf("%q: walk field %d %q [%d,%d), fields %+v", msg, i, w.name, w.start, w.end, fs)
			}
			if nameIs(w.name, name) != strings.EqualFold(fs[i].name, name) {
				t.Fatalf("nameIs(%q, %q) != EqualFold", w.name, name)
			}
		}
		if i != len(fs) {
			t.Fatalf("%q: walk found %d fields, fields %d", msg, i, len(fs))
		}
	})
}

// The header work on every received message walks the fields without
// listing them: a header section of max_header_size in short fields
// (10,000 of them) costs no allocation per field in any of the passes,
// the removal of forged Authentication-Results and the Delivered-To
// loop check (Values) included.
func TestLargeHeaderSectionNoAllocationPerField(t *testing.T) {
	msg := []byte(strings.Repeat("X-Filler: "+strings.Repeat("f", 88)+"\r\n", 10000) +
		"Authentication-Results: other.example; spf=pass\r\nDelivered-To: x@example.org\r\n\r\nbody\r\n")
	for name, fn := range map[string]func(){
		"RemoveAuthResults": func() { RemoveAuthResults(msg, "mx.example.test") },
		"UmbraAuthResults":  func() { UmbraAuthResults(msg, "mx.example.test") },
		"Values":            func() { Values(msg, "Delivered-To") },
		"AddressPaths":      func() { AddressPaths(msg, "Delivered-To") },
	} {
		if allocs := testing.AllocsPerRun(5, fn); allocs > 10 {
			t.Errorf("%s: %v allocations for 10,000 fields", name, allocs)
		}
	}
}
