package admin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A time the answer does not have (no next attempt during a first
// attempt, no contact yet, no retry waiting) is left out of the JSON,
// not written as 0001-01-01T00:00:00Z, which a script would read as a
// time two thousand years past (rt41 F4). Every time field of every
// answer type that says it may be absent must be omitted when zero.
func TestZeroTimesLeftOut(t *testing.T) {
	for _, v := range []any{MessageView{}, ShadowView{}, queue.QueueInfo{}} {
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if f.Type != reflect.TypeOf(time.Time{}) {
				continue
			}
			tag := f.Tag.Get("json")
			if !strings.Contains(tag, ",omit") {
				continue // always set (a message's arrival)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if name, _, _ := strings.Cut(tag, ","); strings.Contains(string(b), `"`+name+`"`) {
				t.Errorf("%s.%s: a zero time is written: %s", rt.Name(), f.Name, b)
			}
		}
	}
}
