package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	bolt "go.etcd.io/bbolt"
)

// sendMarked sends one message whose Subject is subj and whose body
// holds mark, and returns the queue id umbra's reply names.
func sendMarked(t *testing.T, addr, subj, mark string) string {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "Subject: %s\r\n\r\n%s\r\n%s", subj, mark, strings.Repeat("body line of a message held in the database\r\n", 20))
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	c.Quit()
	f := strings.Fields(resp.StatusText)
	return f[len(f)-1]
}

// SR-, Q- (integrity across a crash): umbra receives mail and is killed
// (kill -9) with it queued; between that process and the next, one byte
// of one message's body is changed inside queue.db, and another
// message's body checksum entry is deleted from the real bbolt file.
// The restarted process delivers the sound messages and neither of the
// two: each is held as poison ("body unreadable"), its checksum failing
// or missing, and stays held; nothing changed goes out.
func TestChangedBodyByteAcrossKillIsHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	d := startUmbra(t, cfg, listen)
	ids := map[string]string{}
	for i := 1; i <= 4; i++ {
		subj := fmt.Sprintf("chg%d", i)
		ids[subj] = sendMarked(t, listen, subj, fmt.Sprintf("MARK-%d-original-text", i))
	}
	d.kill() // the first process: no close, as in a crash

	live := filepath.Join(dir, "data", "queue.db")
	file, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	// Every copy of chg2's mark (a page rewritten by a later commit
	// leaves an earlier copy in a free page): the live one among them.
	mark := []byte("MARK-2-original-text")
	n := 0
	for at := bytes.Index(file, mark); at >= 0; at = bytes.Index(file, mark) {
		file[at+len("MARK-2-")] = 'O' // one byte
		n++
	}
	if n == 0 {
		t.Fatal("chg2's body is not in queue.db")
	}
	if err := os.WriteFile(live, file, 0o600); err != nil {
		t.Fatal(err)
	}
	// chg3: its body's checksum entry deleted.
	db, err := bolt.Open(live, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var deleted bool
	if err := db.Update(func(tx *bolt.Tx) error {
		sums := tx.Bucket([]byte("bodysums"))
		if sums == nil {
			return fmt.Errorf("no bodysums bucket")
		}
		c := sums.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) == 9 && k[0] == 'm' && fmt.Sprintf("%016X", k[1:]) == ids["chg3"] {
				deleted = true
				return sums.Delete(k)
			}
		}
		return nil
	}); err != nil || !deleted {
		t.Fatalf("deleting chg3's checksum (%s): deleted %v, %v", ids["chg3"], deleted, err)
	}
	db.Close()

	sink := startRecorder(t, sinkAddr)
	d = startUmbra(t, cfg, listen) // the second process
	d.dumpLogIfFailed()
	deadline := time.Now().Add(30 * time.Second)
	for c := sink.counts(); c["chg1"]+c["chg4"] < 2; c = sink.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("the sound messages were not delivered: %v", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, subj := range []string{"chg2", "chg3"} {
		want := map[string]string{"chg2": "changed on disk", "chg3": "checksum is missing"}[subj]
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _ := cli(t, cfg, "message", "show", ids[subj])
			if strings.Contains(out, "poison") && strings.Contains(out, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (%s) not held as poison with %q:\n%s", subj, ids[subj], want, out)
			}
		}
	}
	time.Sleep(2 * time.Second) // a retry would have come by now (retry_schedule: [1s])
	if c := sink.counts(); c["chg2"]+c["chg3"] != 0 {
		t.Fatalf("delivered with a changed or unvouched body: %v", c)
	}
}
