package mailbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A copy a reader renamed (an IMAP MOVE or COPY: a base name of its
// own, in the inbox or a Maildir++ folder, CRLF or LF lines) is found by
// the org id in its header under CheckHeaders, and by nothing else; the
// names in umbra's form are left to the name check; a header past the
// header section, or past scanHeaderBytes, names nothing. One scan per
// mailbox and Scan: a file renamed after the request's scan is not seen
// by the same request, and is by the next one.
func TestCheckHeadersFindsRenamedCopy(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	dir := d.Path("alice", "example.test")
	const org = "0123456789abcdef0123456789abcdef"
	name := Name("DB1", org, "alice@example.test")
	body := []byte("X-Umbra-Org-Id: " + org + "\r\nSubject: x\r\n\r\nhi\r\n")
	if err := d.Deliver("alice", "example.test", "a@b", name, body); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, ".Archive", "cur"), 0o700)
	if err := os.Rename(filepath.Join(dir, "new", name), filepath.Join(dir, ".Archive", "cur", "1796317000.M5P7.mbx,S=400,W=410:2,S")); err != nil {
		t.Fatal(err)
	}
	// Decoys: the id in a body, after a long header section, in tmp/.
	other := "fedcba9876543210fedcba9876543210"
	os.WriteFile(filepath.Join(dir, "cur", "1.M1.mbx:2,S"), []byte("Subject: y\n\nX-Umbra-Org-Id: "+other+"\n"), 0o600)
	far := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	os.WriteFile(filepath.Join(dir, "cur", "2.M2.mbx:2,S"), []byte("X-Long: "+strings.Repeat("z", scanHeaderBytes)+"\nX-Umbra-Org-Id: "+far+"\n\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "tmp", "3.M3.mbx"), []byte("X-Umbra-Org-Id: "+other+"\n\n"), 0o600)
	lf := "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	os.WriteFile(filepath.Join(dir, "cur", "4.M4.mbx:2,"), []byte("Return-Path: <a@b>\nx-umbra-org-id:   "+lf+"\n\nbody\n"), 0o600)

	deliver := func(org, scan string, c Check) error {
		return d.DeliverWith("alice", "example.test", "a@b", Name("DB1", org, "alice@example.test"), body, nil, Options{Check: c, OrgID: org, Scan: scan})
	}
	if err := deliver(org, "r4", CheckHeaders); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatalf("the renamed copy is not found by its header: %v", err)
	}
	if err := deliver(lf, "r4", CheckHeaders); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatalf("a copy with LF lines and a lower-case field name is not found: %v", err)
	}
	for _, o := range []string{other, far} {
		if err := deliver(o, "r4", CheckHeaders); err != nil {
			t.Fatalf("org id %s outside a header section (or past the bound) suppresses a delivery: %v", o, err)
		}
	}
	if err := deliver(org, "", CheckNames); err != nil {
		t.Fatalf("the name check reads headers: %v", err)
	}
	os.Remove(filepath.Join(dir, "new", name))
	// Renamed after request r5's scan: r5 does not see it, r6 does.
	moved := "cccccccccccccccccccccccccccccccc"
	if err := deliver(org, "r5", CheckHeaders); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cur", "5.M5.mbx:2,S"), []byte("X-Umbra-Org-Id: "+moved+"\r\n\r\n"), 0o600)
	if err := deliver(moved, "r5", CheckHeaders); err != nil {
		t.Fatalf("request r5 scanned the mailbox twice: %v", err)
	}
	os.Remove(filepath.Join(dir, "new", Name("DB1", moved, "alice@example.test")))
	if err := deliver(moved, "r6", CheckHeaders); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatalf("a new request does not scan again: %v", err)
	}
}

// The scans kept are bounded: past scanEntries mailboxes the oldest
// scan goes, and a scan older than scanKeep is made again.
func TestScanCacheBounded(t *testing.T) {
	d := &Maildir{Root: t.TempDir()}
	for i := range scanEntries + 10 {
		d.hasOrgID(filepath.Join(d.Root, "x", string(rune('a'+i%26))+strings.Repeat("b", i/26)), "0123456789abcdef0123456789abcdef", "r1")
	}
	if n := len(d.cache.scans); n > scanEntries {
		t.Fatalf("%d scans kept, want at most %d", n, scanEntries)
	}
	k := scanKey{filepath.Join(d.Root, "x", "a"), "r2"}
	d.hasOrgID(k.dir, "0123456789abcdef0123456789abcdef", "r2")
	first := d.cache.scans[k]
	first.at = first.at.Add(-scanKeep - time.Second)
	d.hasOrgID(k.dir, "0123456789abcdef0123456789abcdef", "r2")
	if d.cache.scans[k] == first {
		t.Fatal("a scan older than scanKeep served again")
	}
}

// rt19h F1: a reader that rewrote the copy's header — the org id field
// folded onto a continuation line (space or tab), a blank before its
// colon, both RFC 5322 forms of one field — still has it found by a
// redelivery's scan, as any reader of the header finds it.
func TestCheckHeadersFindsRewrittenOrgIDField(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	dir := d.Path("alice", "example.test")
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	if err := d.Deliver("alice", "example.test", "a@b", Name("DB1", "dddddddddddddddddddddddddddddddd", "alice@example.test"), body); err != nil {
		t.Fatal(err) // makes the mailbox
	}
	forms := map[string]string{
		"11111111111111111111111111111111": "X-Umbra-Org-Id:\r\n 11111111111111111111111111111111\r\nSubject: a\r\n\r\n",
		"22222222222222222222222222222222": "Subject: b\nX-Umbra-Org-Id:\n\t22222222222222222222222222222222\n\n",
		"33333333333333333333333333333333": "X-Umbra-Org-Id : 33333333333333333333333333333333\r\n\r\n",
		"44444444444444444444444444444444": "X-Umbra-Org-Id:\r\n\r\n44444444444444444444444444444444\r\n", // in the body: not found
	}
	i := 0
	for _, text := range forms {
		i++
		os.WriteFile(filepath.Join(dir, "cur", fmt.Sprintf("%d.M%d.mbx:2,S", i, i)), []byte(text), 0o600)
	}
	for org := range forms {
		err := d.DeliverWith("alice", "example.test", "a@b", Name("DB1", org, "alice@example.test"), body, nil, Options{Check: CheckHeaders, OrgID: org, Scan: "f1"})
		want := org != "44444444444444444444444444444444"
		if got := errors.Is(err, ErrAlreadyDelivered); got != want {
			t.Errorf("org id %s: found %v (%v), want %v", org, got, err, want)
		}
	}
}
