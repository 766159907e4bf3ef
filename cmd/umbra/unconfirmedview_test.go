package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// rt20a F3: message show's copy line names the holder and then every
// server pushed to without confirmation, whether its discard is owed
// yet; shadow single names every server tried, not only the first.
func TestUnconfirmedPushesShown(t *testing.T) {
	for _, c := range []struct {
		holder string
		pushes []queue.UnconfirmedPush
		want   string
	}{
		{"hub-c", nil, "on hub-c"},
		{"hub-c", []queue.UnconfirmedPush{{Server: "hub-b", DiscardOwed: true}}, "on hub-c; unconfirmed push to hub-b (discard owed)"},
		{"", []queue.UnconfirmedPush{{Server: "hub-b"}, {Server: "hub-d"}}, "none confirmed; unconfirmed push to hub-b (may hold a copy); unconfirmed push to hub-d (may hold a copy)"},
	} {
		if got := copyLine(c.holder, c.pushes); got != c.want {
			t.Errorf("copyLine(%q, %+v) = %q; want %q", c.holder, c.pushes, got, c.want)
		}
	}
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	printSingle(cmd, []admin.SingleCopyView{{ID: "000661c0c0fde452", Lost: "hub-b", Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), AlsoPushed: []string{"hub-d", "hub-e"}}}, -1)
	if !strings.Contains(out.String(), "hub-b (also pushed, unconfirmed: hub-d, hub-e)") {
		t.Fatalf("shadow single:\n%s\nwant hub-d and hub-e named after hub-b", out.String())
	}
}
