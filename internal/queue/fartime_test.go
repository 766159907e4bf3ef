package queue

import (
	"testing"
	"time"
)

// A time the stored encodings cannot hold (before 1970; 1584–1677, whose
// nanoseconds wrap into the future; after 2262) is written saturated, so
// it reads back as StoredTime says and the record decodes: never a
// record refused as "time out of range", never a time in another century
// (fixe19 item 3). The time keys (putTime, scheduleKey) saturate alike.
func TestFarTimesSaturate(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1650, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 3, 17, 0, 0, 5, time.UTC),
	} {
		r := &Request{ID: "x", Database: "DB1", Since: at, Started: at}
		got, err := decodeRequest("x", r.encode())
		if err != nil {
			t.Fatalf("%v: the request record does not decode: %v", at, err)
		}
		if want := StoredTime(at); !got.Since.Equal(want) || !got.Started.Equal(want) {
			t.Errorf("%v reads back as %v, want %v", at, got.Since, want)
		}
		if at.Year() < 1970 && !StoredTime(at).IsZero() {
			t.Errorf("%v is stored as %v, want the zero time (before every copy)", at, StoredTime(at))
		}
		if at.Year() > 2262 && StoredTime(at).Year() != 2262 {
			t.Errorf("%v is stored as %v, want the last time a record holds", at, StoredTime(at))
		}
		if k := getTime(putTime(at)); at.Year() < 1970 && k.UnixNano() != 0 || at.Year() > 2262 && k.Year() != 2262 {
			t.Errorf("%v as a key reads %v", at, k)
		}
	}
}
