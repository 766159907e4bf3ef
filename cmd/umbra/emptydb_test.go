package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// emptyDBQueue starts umbra in dir with a next hop that never answers,
// queues one spooled message (over spool_threshold) and two small ones,
// and stops it with SIGTERM: a data directory that held a database with
// mail in it and a spool file beside it. It returns the configuration
// and the SMTP address.
func emptyDBQueue(t *testing.T, dir string) (cfg, listen string) {
	t.Helper()
	listen = "127.0.0.181:10101"
	cfg = relayConfig(t, dir, listen, "127.0.0.181:10102") // nothing listens there
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if err := sendBDAT(listen, 400<<10, 64<<10); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"empty-1", "empty-2"} {
		if ok, err := send(listen, s); !ok || err != nil {
			t.Fatalf("%s: not accepted: %v", s, err)
		}
	}
	stopDaemon(t, d)
	if n := spoolFiles(t, filepath.Join(dir, "data", "spool")); n != 1 {
		t.Fatalf("%d spool files after the stop; want the spooled message's 1", n)
	}
	return cfg, listen
}

func spoolFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Q-5 (lifert39 F1): a queue.db emptied to 0 bytes while umbra was
// stopped (a filesystem's crash, an operator's `>`) was taken as a new
// database: the start said nothing, the queued mail was gone and its
// spool files moved aside. An empty file beside a spool directory is a
// truncated database — umbra makes spool/ only after a new database's
// first pages are on disk —: the start is refused (exit 1) with the
// damaged wording and the way out, and nothing is changed; db compact
// refuses it with the same way out. Moved aside, the start makes a new
// database (TestQ5NewDatabaseBesideSpoolFilesSaysSo).
func TestQ5EmptyDatabaseFileIsTruncatedNotNew(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := emptyDBQueue(t, dir)
	live := filepath.Join(dir, "data", "queue.db")
	if err := os.Truncate(live, 0); err != nil {
		t.Fatal(err)
	}
	out, _, code := runBounded(t, "serve", "--config", cfg)
	if code != exitFailure || !strings.Contains(out, "transport database is damaged") || !strings.Contains(out, live) ||
		!strings.Contains(out, "empty") || !strings.Contains(out, "mv queue.db queue.db.damaged") {
		t.Errorf("serve on an emptied queue.db: exit %d\n%s\nwant exit %d: transport database is damaged, naming the file, the way out", code, out, exitFailure)
	}
	if strings.Contains(out, "database_id") {
		t.Errorf("serve opened a database in the emptied file:\n%s", out)
	}
	if fi, err := os.Stat(live); err != nil || fi.Size() != 0 {
		t.Errorf("the emptied queue.db was changed by the refused start: %v %v", fi, err)
	}
	if n := spoolFiles(t, filepath.Join(dir, "data", "spool")); n != 1 {
		t.Errorf("%d spool files after the refused start; want the 1 left", n)
	}
	if asides, _ := filepath.Glob(filepath.Join(dir, "data", "spool.replaced-*")); len(asides) != 0 {
		t.Errorf("the refused start moved the spool directory aside: %v", asides)
	}
	code, errOut := cliErr(t, cfg, "db", "compact")
	if code != exitFailure || !strings.Contains(errOut, "empty") || !strings.Contains(errOut, "mv queue.db queue.db.damaged") {
		t.Errorf("db compact of the emptied queue.db: exit %d %q; want exit %d with the way out", code, errOut, exitFailure)
	}
}

// Q-5 (lifert39 F1): the one empty queue.db umbra itself may leave — a
// crash during the very first creation, after the file was made and
// before bbolt's first pages and spool/ were on disk — has no spool
// directory beside it: that start makes the database as a first start
// does.
func TestQ5EmptyDatabaseOfAnUnfinishedFirstStartIsMade(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.181:10103"
	cfg := relayConfig(t, dir, listen, "127.0.0.181:10104")
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "queue.db"), nil, 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	stopDaemon(t, d)
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "transport database open") {
		t.Errorf("no database made in the empty file of an unfinished first start:\n%s", b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") && (strings.Contains(l, "spool") || strings.Contains(l, "damaged")) {
			t.Errorf("first start on the empty file of an unfinished first start: %s", l)
		}
	}
}

// Q-5 (lifert39 F2): a start with queue.db gone and spool files of the
// database it was beside said "finished an umbra db restore that was
// interrupted after it replaced the database", though no restore ran.
// It says what happened: a new database started beside the spool files
// of one that is gone, how many, where they went, and that the mail
// they held is not queued here.
func TestQ5NewDatabaseBesideSpoolFilesSaysSo(t *testing.T) {
	dir := t.TempDir()
	cfg, listen := emptyDBQueue(t, dir)
	live := filepath.Join(dir, "data", "queue.db")
	if err := os.Rename(live, live+".damaged"); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	stopDaemon(t, d)
	b, _ := os.ReadFile(d.log)
	log := string(b)
	asides, _ := filepath.Glob(filepath.Join(dir, "data", "spool.replaced-*"))
	if len(asides) != 1 {
		t.Fatalf("spool directories moved aside: %v; want 1", asides)
	}
	if strings.Contains(log, "restore") {
		t.Errorf("the start spoke of a restore, though none ran:\n%s", log)
	}
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, asides[0]) {
			line = l
		}
	}
	if !strings.Contains(line, "new transport database") || !strings.Contains(line, "spool_files=1") ||
		!strings.Contains(line, "not queued here") {
		t.Errorf("no WARN saying a new database started beside 1 spool file of a database that is gone, moved to %s:\n%s", asides[0], log)
	}
}
