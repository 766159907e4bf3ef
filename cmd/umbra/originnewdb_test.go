package main

import (
	"testing"
	"time"
)

// SR-6, SR-7 (rt27a F3): hub-a (site s1, with hub-c) makes copies on
// receipt on hub-b (site s2); its way out is down. hub-a is killed -9
// while hub-c is down too; hub-b takes the copies over, and their route
// leads to site s1. hub-a comes back with a new database. Before, hub-b
// kept avoiding hub-a as the server the messages came from and waited
// for the dead hub-c until the messages expired; but hub-a's new
// database does not hold them: it is a route like any other, and every
// message is delivered once.
func TestTakenOverCopyGoesToOriginBackWithNewDatabase(t *testing.T) {
	t.Parallel()
	// Each hub at an address of its own, from which it also dials: the
	// copies on receipt come from hub-a's address.
	o := startOriginBack(t, "127.0.0.131:8431", "127.0.0.132:8432", "127.0.0.133:8433", nil, "newdb", 3)
	o.ha.kill()
	waitCond(t, "hub-b to take the copies over", 60*time.Second, func() bool { s, _ := o.p.held(t, o.cfgB, "hub-a"); return s == 0 })
	o.backWithNewDatabase(t)
}
