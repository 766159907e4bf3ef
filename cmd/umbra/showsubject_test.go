package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// rt28 F2: message show gives a message's Subject whatever it holds: one
// with a raw ESC is shown escaped (\u001b), not as none, and a byte that
// is not UTF-8 is \xe9 in the table and in --json, not U+FFFD; so is a
// next hop's reply.
func TestCLIShowsSubjectWithControlsAndBytes(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1") // nothing listens: deferred, kept
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	for _, subject := range []string{"esc \x1b[31mRED\x1b[0m", "latin \xe9"} {
		c, err := gosmtp.Dial(listen)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("a@example.org", []string{"x@elsewhere.example"}, strings.NewReader("Subject: "+subject+"\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	var ids []string
	waitCond(t, "both messages", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 2 {
			return false
		}
		ids = []string{ms[0].ID, ms[1].ID}
		return true
	})
	var table, js string
	for _, id := range ids {
		out, code := cli(t, cfg, "message", "show", id)
		if code != 0 {
			t.Fatalf("show %s: exit %d %s", id, code, out)
		}
		table += out
		out, code = cli(t, cfg, "message", "show", "--json", id)
		if code != 0 {
			t.Fatalf("show --json %s: exit %d %s", id, code, out)
		}
		js += out
		var m struct {
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil || m.Subject == "" {
			t.Errorf("show --json %s: no subject (%v):\n%s", id, err, out)
		}
	}
	for _, want := range []string{`esc \u001b[31mRED\u001b[0m`, `latin \xe9`} {
		if !strings.Contains(table, want) {
			t.Errorf("message show lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(js, `latin \\xe9`) || strings.ContainsRune(table+js, '\uFFFD') || strings.Contains(js, `\ufffd`) {
		t.Errorf("a byte that is not UTF-8 is not \\xe9:\n%s\n%s", table, js)
	}
}
