package main

import (
	"fmt"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"
)

// rt33b F2 (SMTP-3, SMTP-1: RFC 5321 §4.5.1): server.postmaster applies
// only at a restart, so a reload whose accepted domains leave the running
// postmaster outside the organisation would keep a postmaster that
// RCPT TO:<postmaster> relays out (or refuses as a relay). Such a reload
// is refused as a whole, saying why; the configuration in force stays:
// <postmaster> is still taken, and the new file's domain is not. Both
// the derived postmaster (postmaster@ the first authoritative domain)
// and one the file sets are checked.
func TestSMTP3ReloadLeavingPostmasterOutsideRefused(t *testing.T) {
	for _, c := range []struct {
		name       string
		set, moved string // server.postmaster before and after ("": derived)
	}{
		{"derived", "", ""},
		{"explicit", "pm@umbra.test", "pm@other.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			listen := freeAddr(t, "127.0.0.161")
			text := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit", "", "internet", "", "")
			if c.set != "" {
				text = strings.Replace(text, "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  postmaster: "+c.set+"\n", 1)
			}
			cfg := writeConfig(t, dir, text)
			d := startUmbra(t, cfg, listen)
			text = strings.Replace(text, "domain: umbra.test", "domain: other.test", 1)
			if c.set != "" {
				text = strings.Replace(text, "postmaster: "+c.set, "postmaster: "+c.moved, 1)
			}
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			d.hup()
			waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
				b, _ := os.ReadFile(d.log)
				return reloadOutcome(string(b))
			})
			failed := logLinesWith(d, "reload failed")
			if len(failed) != 1 || !strings.Contains(failed[0], "server.postmaster") || !strings.Contains(failed[0], "restart") {
				d.dumpLog()
				t.Fatalf("the reload that leaves the running postmaster outside the organisation: %q; want one refusal naming server.postmaster and the restart", failed)
			}
			t.Log(failed[0])
			got := talkSMTP(t, listen, "EHLO client.test", "MAIL FROM:<a@client.test>", "RCPT TO:<postmaster>", "RCPT TO:<x@other.test>", "QUIT")
			if !strings.HasPrefix(got[2], "250") {
				t.Errorf("RCPT TO:<postmaster> after the refused reload: %q; want 250", got[2])
			}
			if !strings.HasPrefix(got[3], "550") {
				t.Errorf("RCPT TO:<x@other.test> after the refused reload (its domain not in force): %q; want 550", got[3])
			}
		})
	}
}

// talkSMTP speaks lines to the SMTP server at addr, one reply each
// ("code text"), after its greeting.
func talkSMTP(t *testing.T, addr string, lines ...string) []string {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lines {
		id, _ := c.Cmd("%s", l)
		c.StartResponse(id)
		code, msg, _ := c.ReadResponse(0)
		c.EndResponse(id)
		out = append(out, fmt.Sprintf("%d %s", code, msg))
	}
	return out
}
