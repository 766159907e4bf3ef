package config

import (
	"strings"
	"testing"
)

// A configured duration longer than the longest Go duration (about 292
// years, 106751d) is refused, saying so: never wrapped into a negative
// or small one ("65535d2562047h" summed past the int64), and never told
// to write "a number and a unit", which it did.
func TestDurationLongerThanAnyRefusedSayingSo(t *testing.T) {
	for _, in := range []string{"65535d2562047h", "106752d", "200000d", "99999999999999999999s", "9999999999h", "106751d24h"} {
		d, err := ParseDuration(in)
		if err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("ParseDuration(%q) = %v, %v; want refused as longer than the longest duration", in, d, err)
		}
	}
	for _, in := range []string{"106751d", "106751d23h"} {
		if d, err := ParseDuration(in); err != nil || d <= 0 {
			t.Errorf("ParseDuration(%q) = %v, %v", in, d, err)
		}
	}
}
