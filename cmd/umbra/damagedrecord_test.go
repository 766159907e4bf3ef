package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// rt45 F1: 20 bytes of one message record overwritten in queue.db while
// the daemon is stopped. The daemon starts, sets the record aside (one
// log line), delivers every other message, never spins; queue list,
// message list and message show name it damaged; only export and
// remove act on it; a backup of the database with it is not sound to
// db verify.
func TestDaemonDamagedRecordSetAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := queue.Open(live, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One commit for all six: each record is in the file once (no
	// earlier copy of its page left in a free page).
	var ids []queue.ID
	var recs [][]byte
	if err := s.Update(context.Background(), func(tx *queue.Tx) error {
		ids, recs = nil, nil
		for i := 1; i <= 6; i++ {
			m := &queue.Message{ID: tx.NewID(time.Now()), State: queue.Ready, From: "a@example.org", Connector: "loopback",
				Rcpts: []queue.Recipient{{Addr: fmt.Sprintf("r%d@example.net", i)}}, NextAttempt: time.Now()}
			if err := tx.PutNew(m, []byte(fmt.Sprintf("From: a@example.org\r\nSubject: dmg%d\r\n\r\nhello\r\n", i))); err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *queue.Tx) error {
		for _, id := range ids {
			recs = append(recs, tx.RawRecord(id))
		}
		return nil
	})
	s.Close()
	bad := ids[2]
	file, _ := os.ReadFile(live)
	at := bytes.Index(file, recs[2])
	if at < 0 || bytes.Contains(file[at+1:], recs[2]) {
		t.Fatalf("record %s not in the file exactly once", bad)
	}
	copy(file[at+1:], bytes.Repeat([]byte{0xff}, 20)) // its id, state and sender
	if err := os.WriteFile(live, file, 0o600); err != nil {
		t.Fatal(err)
	}

	sink := startRecorder(t, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := sink.counts()
		if c["dmg1"]+c["dmg2"]+c["dmg4"]+c["dmg5"]+c["dmg6"] == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sound messages were not all delivered: %v", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := sink.counts()["dmg3"]; n != 0 {
		t.Fatalf("the damaged record was delivered %d times", n)
	}

	out, code := cli(t, cfg, "queue", "list")
	if code != 0 || !strings.Contains(out, "damaged") {
		t.Errorf("queue list: exit %d\n%s", code, out)
	}
	out, code = cli(t, cfg, "message", "list")
	if code != 0 || !strings.Contains(out, bad.String()) || !strings.Contains(out, "damaged") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("message list (one header line, one message): exit %d\n%s", code, out)
	}
	out, code = cli(t, cfg, "message", "show", bad.String())
	if code != 0 || !strings.Contains(out, "state:      damaged") || !strings.Contains(out, fmt.Sprintf("record of %d bytes does not decode", len(recs[2]))) {
		t.Errorf("message show: exit %d\n%s", code, out)
	}
	if code, errOut := cliErr(t, cfg, "message", "suspend", bad.String()); code != exitFailure || !strings.Contains(errOut, "does not decode") {
		t.Errorf("message suspend of a damaged record: exit %d %q", code, errOut)
	}
	// Every action but export and remove refused as damaged, exit 1, by
	// id and by selection alike (rt25c F4): retry said "no such message"
	// (exit 3), and --state damaged selected nothing.
	for _, args := range [][]string{{"message", "retry", bad.String()}, {"message", "resume", bad.String()}} {
		if code, errOut := cliErr(t, cfg, args...); code != exitFailure || !strings.Contains(errOut, "does not decode") {
			t.Errorf("umbra %s of a damaged record: exit %d %q, want %d, damaged", strings.Join(args, " "), code, errOut, exitFailure)
		}
	}
	for _, args := range [][]string{{"message", "retry", "--state", "damaged"}, {"message", "suspend", "--queue", "damaged"}} {
		out, _ := cli(t, cfg, args...)
		if !strings.Contains(out, "1 message matched") && !strings.Contains(out, "1 message matched") {
			t.Errorf("umbra %s: %q, want the damaged record matched (and refused)", strings.Join(args, " "), out)
		}
	}
	if out, code := cli(t, cfg, "message", "export", bad.String()); code != 0 || !strings.Contains(out, "Subject: dmg3") {
		t.Errorf("message export of a damaged record: exit %d %q", code, out)
	}
	backup := filepath.Join(dir, "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	if code, errOut := cliErr(t, cfg, "db", "verify", backup); code != exitFailure || !strings.Contains(errOut, "not sound") ||
		!strings.Contains(errOut, bad.String()) {
		t.Errorf("db verify of a backup holding a damaged record: exit %d %q", code, errOut)
	}
	if out, code := cli(t, cfg, "message", "remove", bad.String()); code != 0 {
		t.Errorf("message remove of a damaged record: exit %d %q", code, out)
	}
	if out, code := cli(t, cfg, "message", "list"); code != 0 || strings.Contains(out, bad.String()) {
		t.Errorf("message list after the removal: exit %d\n%s", code, out)
	}
	if out, _ := cli(t, cfg, "queue", "list"); strings.Contains(out, "damaged") {
		t.Errorf("queue list after the removal:\n%s", out)
	}
	log, _ := os.ReadFile(d.log)
	if n := bytes.Count(log, []byte("claiming due messages failed")); n != 0 {
		t.Errorf("%d failed claims logged", n)
	}
	if n := bytes.Count(log, []byte("message record damaged")); n != 1 {
		t.Errorf("the damaged record logged %d times, want once", n)
	}
}
