package main

import (
	"strings"
	"testing"
)

// TestOPS5MessageCommandsNameDamaged (rr ops39 F4, the sibling of rt39
// F5): damaged is, as poison and quarantine, a queue of every server
// that queue suspend names as one it does not deliver from: the message
// commands' --queue damaged takes it when it holds nothing (exit 0,
// nothing found), a typo lists it among the valid names, and the queue
// actions still refuse it with what acts on its records.
func TestOPS5MessageCommandsNameDamaged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := "127.0.0.218:15630"
	cfg := relayConfig(t, dir, listen, "127.0.0.218:15631") // the smart host: never reached, no mail is sent
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, args := range [][]string{
		{"message", "list", "--queue", "damaged"},
		{"message", "remove", "--queue", "damaged", "--dry-run"},
	} {
		if code, errOut := cliErr(t, cfg, args...); code != 0 {
			t.Errorf("umbra %s with damaged empty: exit %d %q; want 0 (nothing in it)", strings.Join(args, " "), code, errOut)
		}
	}
	code, errOut := cliErr(t, cfg, "message", "list", "--queue", "damagd")
	if _, list, _ := strings.Cut(errOut, "valid: "); code != exitNotFound || !strings.Contains(list, "damaged") {
		t.Errorf("message list --queue damagd: exit %d %q; want exit %d with damaged among the valid names", code, errOut, exitNotFound)
	}
	code, errOut = cliErr(t, cfg, "queue", "suspend", "damagd")
	if _, list, _ := strings.Cut(errOut, "valid: "); code != exitNotFound || strings.Contains(list, "damaged") {
		t.Errorf("queue suspend damagd: exit %d %q; want exit %d without damaged (the queue actions refuse it)", code, errOut, exitNotFound)
	}
	if code, errOut := cliErr(t, cfg, "queue", "suspend", "damaged"); code == 0 || !strings.Contains(errOut, "not delivered from") {
		t.Errorf("queue suspend damaged: exit %d %q; want it refused as a queue nothing is delivered from", code, errOut)
	}
}
