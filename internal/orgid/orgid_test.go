package orgid

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNewIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New()
		if !Valid(id) {
			t.Fatalf("New() = %q, not Valid", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 32), strings.Repeat("g", 32), strings.Repeat("a", 33), "0123456789abcdef0123456789abcde "} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}

func TestStrip(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, in, out, found string
	}{
		{"none", "Subject: a\r\n\r\nX-Umbra-Org-Id: in body\r\n", "Subject: a\r\n\r\nX-Umbra-Org-Id: in body\r\n", ""},
		{"first", "X-Umbra-Org-Id: " + id + "\r\nSubject: a\r\n\r\nb\r\n", "Subject: a\r\n\r\nb\r\n", id},
		{"case and folded", "Subject: a\r\nx-umbra-ORG-id:\r\n " + id + "\r\nFrom: b\r\n\r\n", "Subject: a\r\nFrom: b\r\n\r\n", ""},
		{"every umbra header, first org id wins", "X-Umbra-Org-Id: " + id + "\r\nX-Umbra-Queue-ID: 1\r\n\tmore\r\nX-Umbra-Org-Id: ffffffffffffffffffffffffffffffff\r\nTo: c\r\n\r\n", "To: c\r\n\r\n", id},
		{"no body", "X-Umbra-Org-Id: " + id, "", id},
		{"similar name kept", "X-Umbra: 1\r\nX-UmbraOrg-Id: 2\r\n\r\n", "X-Umbra: 1\r\nX-UmbraOrg-Id: 2\r\n\r\n", ""},
	}
	for _, c := range cases {
		out, found := Strip([]byte(c.in))
		if string(out) != c.out || found != c.found {
			t.Errorf("%s: Strip = %q, %q; want %q, %q", c.name, out, found, c.out, c.found)
		}
	}
}

func TestPrependThenStripRoundTrips(t *testing.T) {
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	id := New()
	out, found := Strip(Prepend(id, body))
	if found != id || !bytes.Equal(out, body) {
		t.Fatalf("round trip: %q %q", out, found)
	}
	if got := Prepend("", body); !bytes.Equal(got, body) {
		t.Fatalf("Prepend of no id changed the body")
	}
}

func FuzzStrip(f *testing.F) {
	f.Add([]byte("X-Umbra-Org-Id: 0123456789abcdef0123456789abcdef\r\nSubject: a\r\n\r\nbody\r\n"))
	f.Add([]byte("Subject: a\r\n x\r\nX-UMBRA-x: y\r\n\tz\r\n\r\n"))
	f.Add([]byte("\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		out, found := Strip(msg)
		if !bytes.Equal(msg, orig) {
			t.Fatal("Strip changed its input")
		}
		if len(out) > len(msg) {
			t.Fatal("Strip made the message longer")
		}
		// Stripping is idempotent and leaves no umbra header behind.
		again, f2 := Strip(out)
		if !bytes.Equal(again, out) || f2 != "" {
			t.Fatalf("second Strip removed more: %q → %q (%q)", out, again, f2)
		}
		if found != "" && !bytes.Contains(bytes.ToLower(msg), []byte("x-umbra-org-id")) {
			t.Fatal("found an id without a header")
		}
		_ = Valid(found)
	})
}

// The id goes after this server's Received field (trace block, then its
// optional fields), else at the top, and Strip takes it out again.
func TestPrependPlacement(t *testing.T) {
	id := New()
	cases := []struct{ in, want string }{
		{"Received: from a\r\n\tby b; now\r\nReceived: from c\r\nSubject: x\r\n\r\nhi\r\n",
			"Received: from a\r\n\tby b; now\r\n" + Line(id) + "Received: from c\r\nSubject: x\r\n\r\nhi\r\n"},
		{"Subject: x\r\n\r\nhi\r\n", Line(id) + "Subject: x\r\n\r\nhi\r\n"},
		{"Received: unterminated", Line(id) + "Received: unterminated"},
	}
	for _, c := range cases {
		got := Prepend(id, []byte(c.in))
		if string(got) != c.want {
			t.Errorf("Prepend(%q) = %q, want %q", c.in, got, c.want)
		}
		if back, found := Strip(got); found != id || string(back) != c.in {
			t.Errorf("Strip(Prepend(%q)) = %q, %q", c.in, back, found)
		}
	}
}

// TestOriginRoundTrips: the origin line delivery writes is read back by
// Internal and removed by Strip with the id; no line without the flag.
func TestOriginRoundTrips(t *testing.T) {
	body := []byte("Received: from x\r\n\tby y\r\nSubject: x\r\n\r\nX-Umbra-Origin: internal\r\n")
	id := New()
	with := PrependRecord(Record{ID: id, Internal: true}, body)
	if !Internal(with) || !strings.Contains(string(with), "\tby y\r\n"+Header+": "+id+"\r\n"+OriginHeader+": internal\r\nSubject") {
		t.Fatalf("origin not written after the trace field:\n%s", with)
	}
	out, found := Strip(with)
	if found != id || !bytes.Equal(out, body) || Internal(out) {
		t.Fatalf("strip: %q %q", out, found)
	}
	if without := PrependRecord(Record{ID: id}, body); Internal(without) || !bytes.Equal(without, Prepend(id, body)) {
		t.Fatalf("origin written for external mail:\n%s", without)
	}
	if got := PrependRecord(Record{}, body); !bytes.Equal(got, body) {
		t.Fatal("nothing to write changed the body")
	}
}

// SR-14 (rt21d M2, M3): the organisation's arrival and the delay notice
// travel next to the id, are read back by Carried, removed by Strip
// with it, and written only with an id; a malformed arrival is none.
func TestCarriedRoundTrips(t *testing.T) {
	body := []byte("Received: from x\r\n\tby y\r\nSubject: x\r\n\r\nX-Umbra-Arrived: 5\r\n")
	id := New()
	at := time.Unix(1796341050, 0)
	with := PrependRecord(Record{ID: id, Arrived: at, DelayNotified: true}, body)
	if got, dn := Carried(with); !got.Equal(at) || !dn {
		t.Fatalf("Carried = %v, %v; want %v, true:\n%s", got, dn, at, with)
	}
	out, found := Strip(with)
	if found != id || !bytes.Equal(out, body) {
		t.Fatalf("strip: %q %q", out, found)
	}
	if got, dn := Carried(out); !got.IsZero() || dn {
		t.Fatalf("Carried read the body: %v %v", got, dn)
	}
	if got := PrependRecord(Record{Arrived: at, DelayNotified: true}, body); !bytes.Equal(got, body) {
		t.Fatalf("written without an id:\n%s", got)
	}
	for _, v := range []string{"", "x", "-5", "0", "1796341050.5", "99999999999999999999"} {
		if got, _ := Carried([]byte(ArrivedHeader + ": " + v + "\r\n\r\n")); !got.IsZero() {
			t.Errorf("Carried(%q) = %v", v, got)
		}
	}
	if _, dn := Carried(with[:0]); dn {
		t.Error("delay notice read from nothing")
	}
}

// TD-1, SR-6: the mark of a copy that may repeat a lost mailbox write
// travels next to the id, is read back by CarriedRepeat, removed by
// Strip with it, and written only with an id.
func TestRepeatMarkRoundTrips(t *testing.T) {
	body := []byte("Subject: x\r\n\r\nX-Umbra-Repeat: yes\r\n")
	id := New()
	with := PrependRecord(Record{ID: id, Repeat: true}, body)
	if !CarriedRepeat(with) {
		t.Fatalf("CarriedRepeat = false:\n%s", with)
	}
	out, found := Strip(with)
	if found != id || !bytes.Equal(out, body) {
		t.Fatalf("strip: %q %q", out, found)
	}
	if CarriedRepeat(out) {
		t.Fatal("CarriedRepeat read the body")
	}
	if CarriedRepeat(PrependRecord(Record{ID: id}, body)) {
		t.Fatal("a record without the mark carried it")
	}
	if got := PrependRecord(Record{Repeat: true}, body); !bytes.Equal(got, body) {
		t.Fatalf("written without an id:\n%s", got)
	}
}

// SMTP-5 (README "What a size limit measures"): the bytes umbra's
// servers added travel with a copy relayed inside the organisation, with
// an id only and when there are any, and are read back as written; a
// field not well formed reads as none.
func TestGrownTravelsWithRecord(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	out := PrependRecord(Record{ID: id, Grown: 54}, body)
	if got := CarriedGrown(out); got != 54 {
		t.Fatalf("carried %d from\n%s", got, out)
	}
	if stripped, _ := Strip(out); string(stripped) != string(body) {
		t.Fatalf("Strip left\n%s", stripped)
	}
	for _, r := range []Record{{ID: id}, {Grown: 54}} {
		if out := PrependRecord(r, body); strings.Contains(string(out), GrownHeader) {
			t.Errorf("%+v wrote\n%s", r, out)
		}
	}
	for _, v := range []string{"-4", "x", "99999999999999", ""} {
		if got := CarriedGrown([]byte(GrownHeader + ": " + v + "\r\n\r\n")); got != 0 {
			t.Errorf("%q read as %d", v, got)
		}
	}
}
