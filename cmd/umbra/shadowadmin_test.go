package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// F8: on the shadow server, suspend, resume and retry of a shadow copy
// are refused (exit 1, saying why) and --all leaves copies untouched and
// says how many it skipped; the copies stay copies and go when the
// primary delivers.
func TestCLIShadowCopiesRefuseOperatorDelivery(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t) // the sink is down: hub-b holds the mail, hub-a the copies
	b := startUmbra(t, p.cfgB, p.b)
	startUmbra(t, p.cfgA, p.a)
	acked := sendAll(t, nil, p.a, "copy", 3, 1)
	var ids []string
	listCopies := func() []string {
		out, _ := cli(t, p.cfgA, "message", "list", "--state", "shadow", "--json")
		var ms []struct{ ID string }
		json.Unmarshal([]byte(out), &ms)
		ids = ids[:0]
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		return ids
	}
	waitCond(t, "hub-a to hold 3 shadow copies", 45*time.Second, func() bool { return len(listCopies()) == 3 })
	for _, action := range []string{"resume", "suspend", "retry"} {
		code, stderr := cliErr(t, p.cfgA, "message", action, ids[0])
		if code != exitFailure || !strings.Contains(stderr, "shadow copy kept for hub-b") {
			t.Errorf("message %s of a shadow copy: exit %d %q", action, code, stderr)
		}
	}
	for _, action := range []string{"resume", "suspend", "retry"} {
		out, code := cli(t, p.cfgA, "message", action, "--all")
		if code != 0 || !strings.Contains(out, "3 skipped (shadow copies: 3)") || strings.Contains(out, ": "+action+"\n") {
			t.Errorf("message %s --all: exit %d\n%s", action, code, out)
		}
	}
	if got := listCopies(); len(got) != 3 {
		t.Fatalf("after the refused actions %d copies are shadow", len(got))
	}
	// The primary delivers: every copy goes, none stays behind.
	sink := startRecorder(t, p.sink)
	waitArrived(t, sink, acked, b)
	waitCond(t, "hub-a's copies to be discarded", 45*time.Second, func() bool {
		out, _ := cli(t, p.cfgA, "message", "list", "--json")
		return strings.TrimSpace(out) == "[]" || strings.TrimSpace(out) == "null"
	})
}
