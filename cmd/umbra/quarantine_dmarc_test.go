package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/resolver/dnstest"
)

// The whole path: DMARC p=quarantine failing on the internet connector
// (a real loopback DNS server) quarantines the message at end of data;
// the sender gets its 250, nothing reaches the mailbox, the quarantine
// lists it with the DMARC reason, and release delivers it.
func TestDMARCQuarantineThroughDaemon(t *testing.T) {
	dns := dnstest.Start(t,
		`quarantine.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.quarantine.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
	)
	dir := t.TempDir()
	path, listen := dmarcMX(t, dir, dns.Addr)
	startUmbra(t, path, listen)
	body := "From: <a@quarantine.test>\r\nTo: bob@example.test\r\nSubject: held\r\n\r\nhello"
	if r := rawSend(t, listen, "a@quarantine.test", []string{"bob@example.test"}, body); !strings.HasPrefix(r, "250") {
		t.Fatalf("p=quarantine: %s", r)
	}
	out, code := cli(t, path, "queue", "quarantine", "list", "--json")
	var ms []admin.MessageView
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || !strings.Contains(ms[0].Quarantine, "DMARC") {
		t.Fatalf("quarantine list: exit %d\n%s", code, out)
	}
	maildir := filepath.Join(dir, "data", "maildir", "example.test", "bob", "new", "*")
	time.Sleep(time.Second)
	if files, _ := filepath.Glob(maildir); len(files) != 0 {
		t.Fatalf("a quarantined message was delivered: %v", files)
	}
	if _, code := cli(t, path, "queue", "quarantine", "release", ms[0].ID); code != 0 {
		t.Fatalf("release: exit %d", code)
	}
	waitCond(t, "delivery after release", 20*time.Second, func() bool {
		files, _ := filepath.Glob(maildir)
		return len(files) == 1
	})
}
