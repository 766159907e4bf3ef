package main

import (
	"strings"
	"testing"
)

// SR-7, SR-6 (shadow28 item 2): as TestTakenOverCopyGoesToOriginBackWithNewDatabase,
// but hub-a comes back with a new database before its heartbeats fail
// the retry count: hub-b takes the copies over at once because the
// database id changed (SR-7), not for failed heartbeats. Before, that
// takeover recorded no database id for the copies, so hub-b kept
// avoiding hub-a as the server the messages came from and waited for the
// dead hub-c: nothing was delivered. hub-a's new database holds none of
// them; every message is delivered once, through hub-a.
func TestSR7TakenOverCopyGoesToOriginBackWithNewDatabase(t *testing.T) {
	t.Parallel()
	// No takeover for failed heartbeats while hub-a restarts: the one
	// that comes is SR-7's.
	o := startOriginBack(t, "127.0.0.141:9141", "127.0.0.142:9142", "127.0.0.143:9143", func(s string) string {
		return strings.Replace(s, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 60", 1)
	}, "sr7", 3)
	o.ha.kill()
	o.backWithNewDatabase(t)
}
