package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// shadow list's FAILED HEARTBEATS of a primary reaching this server one
// way went 0, 1, 0 as its sessions reset the count and this server's
// next heartbeat failed: it says the count is reset by them, so a 0 is
// not read as heartbeats that pass.
func TestFailedHeartbeatsTextOneWay(t *testing.T) {
	for _, n := range []int{0, 1} {
		v := admin.ShadowView{FailedHeartbeats: n, State: "one-way", Unreachable: "connection refused", ReachesHere: time.Now()}
		if got := failedHeartbeatsText(v); !strings.HasPrefix(got, strconv.Itoa(n)) || !strings.Contains(got, "reset by its sessions here") {
			t.Errorf("%d failed heartbeats, one way: %q", n, got)
		}
	}
	if got := failedHeartbeatsText(admin.ShadowView{FailedHeartbeats: 2, State: "unreachable"}); got != "2" {
		t.Errorf("2 failed heartbeats: %q", got)
	}
}
