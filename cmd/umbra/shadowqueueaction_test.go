package main

import (
	"strings"
	"testing"
)

// sites49 F2: queue retry, resume and redirect of a shadow queue whose
// copies none is taken over answered "0 messages" and exit 0 — while
// suspend refused it, saying why. Each is refused now with the same
// precise words (exit 1, not a delivery queue: … none of its N taken
// over here), and nothing is changed: the copy stays, and is taken over
// and delivered when its primary dies.
func TestShadowQueueActionsRefusedWithoutTakenOverCopy(t *testing.T) {
	t.Parallel()
	o, _ := certReceiptHubs(t, "remote-only", true)
	ha, hb := o.start(t)
	hb.dumpLogIfFailed()
	o.sendCopied(t, "Subject: shadowq-1\r\n\r\nbody")
	for _, args := range [][]string{
		{"queue", "retry", "shadow:hub-a"},
		{"queue", "resume", "shadow:hub-a"},
		{"queue", "redirect", "shadow:hub-a", "--to", o.sink},
		{"queue", "suspend", "shadow:hub-a"},
	} {
		code, stderr := cliErr(t, o.cfgB, args...)
		if code != 1 || !strings.Contains(stderr, "not a delivery queue: shadow:hub-a holds shadow copies kept for their primary") {
			t.Errorf("umbra %s on copies none taken over: exit %d, %q; want exit 1, not a delivery queue: shadow:hub-a holds shadow copies kept for their primary…",
				strings.Join(args, " "), code, stderr)
		}
	}
	// The copy is still there and still protects the message.
	ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"shadowq-1"}, hb)
}
