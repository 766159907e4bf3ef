package backpressure

import (
	"encoding/json"
	"strings"
	"testing"
)

// rt20d-F7 (OPS-): queue list showed `disk_used_percent at
// 94.89628954020965` and `database_size at 3452928; watermarks normal
// 1048576, …`: a percentage is shown with one decimal and a sign, a
// size with its unit, a count as the whole number it is.
func TestResourceValuesAreShownInTheirUnits(t *testing.T) {
	for _, tc := range []struct {
		resource string
		v        float64
		want     string
	}{
		{"disk_used_percent", 94.89628954020965, "94.9%"},
		{"memory_percent", 12, "12.0%"},
		{"database_size", 3452928, "3.3MiB"},
		{"database_size", 1048576, "1.0MiB"},
		{"database_size", 12884901888, "12.0GiB"},
		{"database_size", 512, "512B"},
		{"database_size", 2048, "2.0KiB"},
		{"total_queue", 75012, "75012"},
		{"sessions", 3, "3"},
	} {
		if got := FormatResourceValue(tc.resource, tc.v); got != tc.want {
			t.Errorf("FormatResourceValue(%s, %v) = %q, want %q", tc.resource, tc.v, got, tc.want)
		}
	}
}

// rt20d-F7: GET /v1/backpressure's watermarks are in snake_case as the
// other keys are; an answer of an earlier release ("Normal") still
// reads (encoding/json matches a key in any case).
func TestWatermarkKeys(t *testing.T) {
	b, _ := json.Marshal(Watermark{Normal: 1, Medium: 2, High: 3})
	if string(b) != `{"normal":1,"medium":2,"high":3}` {
		t.Errorf("watermark JSON %s", b)
	}
	var w Watermark
	if err := json.NewDecoder(strings.NewReader(`{"Normal":1,"Medium":2,"High":3}`)).Decode(&w); err != nil || w != (Watermark{1, 2, 3}) {
		t.Errorf("an earlier release's keys: %+v %v", w, err)
	}
}
