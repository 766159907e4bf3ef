package main

import (
	"strings"
	"testing"
)

// A refusal about an object that is not here names that object: a
// transport database id never met is "no transport database id …", a
// quarantine action on an id not here speaks of the quarantine — never
// "no such message", which is the words of a message id (rt18e). The
// exit code stays 3 (no such …) and the API's status 404.
func TestNotFoundSaysWhatIsNotHere(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	startUmbra(t, cfg, listen)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"shadow", "forget-database", "0123456789abcdef0123456789abcdef"}, "no transport database id 0123456789abcdef0123456789abcdef"},
		{[]string{"queue", "quarantine", "show", "0000000000000001"}, "no quarantined message 0000000000000001"},
		{[]string{"queue", "quarantine", "release", "0000000000000001"}, "no quarantined message 0000000000000001"},
		{[]string{"queue", "quarantine", "delete", "0000000000000001"}, "no quarantined message 0000000000000001"},
	} {
		out, errOut, code := cliAll(t, cfg, c.args...)
		if code != exitNotFound || !strings.Contains(out+errOut, c.want) || strings.Contains(out+errOut, "no such message") {
			t.Errorf("umbra %s: exit %d, want %d saying %q (not \"no such message\")\n%s%s", strings.Join(c.args, " "), code, exitNotFound, c.want, out, errOut)
		}
	}
	// A message id not here is still a message's refusal, and names the
	// id (OPS-3): every message command that takes one.
	for _, args := range [][]string{
		{"message", "show", "0000000000000001"},
		{"message", "export", "0000000000000001"},
		{"message", "suspend", "0000000000000001"},
		{"message", "resume", "0000000000000001"},
		{"message", "retry", "0000000000000001"},
		{"message", "remove", "0000000000000001"},
		{"message", "remove", "--dry-run", "0000000000000001"},
	} {
		out, errOut, code := cliAll(t, cfg, args...)
		if code != exitNotFound || !strings.Contains(errOut, "no such message 0000000000000001") {
			t.Errorf("umbra %s of an id not here: exit %d, want %d naming the id\n%s%s", strings.Join(args, " "), code, exitNotFound, out, errOut)
		}
	}
}
