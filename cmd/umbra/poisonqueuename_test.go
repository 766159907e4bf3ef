package main

import (
	"strings"
	"testing"
)

// TestOPS5MessageCommandsNamePoisonAndQuarantine (rt39 F5): one rule for
// queue names. poison and quarantine are queues to every command: the
// message commands' --queue takes them when they hold nothing (exit 0,
// nothing found, as --state poison finds nothing), as queue suspend
// names poison as a queue it does not deliver from; a typo of either
// lists them among the valid names for the message commands, and the
// queue actions' list leaves them out (they refuse them).
func TestOPS5MessageCommandsNamePoisonAndQuarantine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.141")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.141"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, q := range []string{"poison", "quarantine"} {
		for _, args := range [][]string{
			{"message", "list", "--queue", q},
			{"message", "resume", "--queue", q},
			{"message", "remove", "--queue", q, "--dry-run"},
		} {
			if code, errOut := cliErr(t, cfg, args...); code != 0 {
				t.Errorf("umbra %s with %s empty: exit %d %q; want 0 (nothing in it)", strings.Join(args, " "), q, code, errOut)
			}
		}
	}
	if out, code := cli(t, cfg, "message", "list", "--queue", "poison"); code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("message list --queue poison: exit %d\n%s\nwant the header alone, as --state poison", code, out)
	}
	code, errOut := cliErr(t, cfg, "message", "list", "--queue", "poisson")
	if _, list, _ := strings.Cut(errOut, "valid: "); code != exitNotFound || !strings.Contains(list, "poison") || !strings.Contains(list, "quarantine") {
		t.Errorf("message list --queue poisson: exit %d %q; want exit %d with poison and quarantine among the valid names", code, errOut, exitNotFound)
	}
	code, errOut = cliErr(t, cfg, "queue", "suspend", "poisson")
	if _, list, _ := strings.Cut(errOut, "valid: "); code != exitNotFound || strings.Contains(list, "poison") || strings.Contains(list, "quarantine") {
		t.Errorf("queue suspend poisson: exit %d %q; want exit %d without poison or quarantine (the queue actions refuse them)", code, errOut, exitNotFound)
	}
}
