package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// slowBackuper serves a real store's backup, handing the copy out in
// small writes so that a cancelled client is met mid-copy.
// slowBackuper writes the backup in small paced chunks; sent, when
// set, is closed once the first chunk is written.
type slowBackuper struct {
	s    *queue.Store
	sent chan struct{}
	once *sync.Once
}

type chunked struct {
	w    io.Writer
	sent func()
}

func (c *chunked) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 4096)
		m, err := c.w.Write(p[:k])
		n += m
		if c.sent != nil && m > 0 {
			c.sent()
		}
		if err != nil {
			return n, err
		}
		p = p[k:]
		time.Sleep(time.Millisecond) // pacing only; nothing is asserted on it
	}
	return n, nil
}

func (b slowBackuper) Backup(w io.Writer, size func(int64)) (int64, error) {
	c := &chunked{w: w}
	if b.sent != nil {
		c.sent = func() { b.once.Do(func() { close(b.sent) }) }
	}
	return b.s.Backup(c, size)
}

// A backup the client gives up on leaves no partial file, and the audit
// line says how much was sent and that the copy did not complete; a
// complete one says "sent", never "ok" (the daemon does not know that
// the client kept the copy).
func TestBackupInterruptedIsAuditedAndLeavesNoPartial(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	for i := 0; i < 200; i++ {
		m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte(strings.Repeat("x", 4000))) }); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, &fakeQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	s.SetDatabase(slowBackuper{s: st, sent: sent, once: new(sync.Once)})
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)

	out := filepath.Join(dir, "bk")
	os.Mkdir(out, 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	// Cut once the first chunk is sent (not 50 ms after the start: a
	// loaded machine could reach that before the backup began, or after
	// it ended).
	go func() { <-sent; cancel() }()
	if _, err := c.BackupContext(ctx, filepath.Join(out, "cut.db")); err == nil {
		t.Fatal("a cancelled backup succeeded")
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
	n, err := c.Backup(filepath.Join(out, "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	var es []tracking.Entry
	for i := 0; i < 200; i++ { // the handler audits after the client's read ends
		es, _ = tl.Search(tracking.Query{Events: []string{"admin"}})
		if len(es) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(es) != 2 {
		t.Fatalf("audit entries: %+v", es)
	}
	for _, e := range es {
		t.Logf("%s: %s", e.Action, e.Reply)
		if e.Reply == "ok" || !strings.Contains(e.Action, "bytes") {
			t.Errorf("audit: %+v", e)
		}
	}
	if !strings.Contains(es[0].Action, "sent") || es[0].Reply == "sent" {
		t.Errorf("the cut backup: %+v", es[0])
	}
	_ = n
	if es[1].Reply != "sent" {
		t.Errorf("the full backup: %+v", es[1])
	}
}

// A client that stops reading is cut off after the stall bound: the
// handler ends, the snapshot is deleted, the audit line says it failed.
func TestBackupStoppedClientIsCutOff(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	for i := 0; i < 300; i++ {
		m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte(strings.Repeat("x", 8000))) }); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, &fakeQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDatabase(st)
	s.backupStall = 200 * time.Millisecond
	go s.Serve()
	defer s.Shutdown(context.Background())
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /v1/db/backup HTTP/1.1\r\nHost: umbra\r\n\r\n")
	buf := make([]byte, 4096)
	if _, err := conn.Read(buf); err != nil { // then read no more: a stopped client
		t.Fatal(err)
	}
	var es []tracking.Entry
	for i := 0; i < 1500; i++ { // bounds the test only
		es, _ = tl.Search(tracking.Query{Events: []string{"admin"}})
		if len(es) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(es) != 1 || !strings.HasPrefix(es[0].Reply, "failed") {
		t.Fatalf("audit of a stopped client's backup: %+v", es)
	}
	t.Logf("%s: %s", es[0].Action, es[0].Reply)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "snapshot") {
			t.Errorf("snapshot left: %s", e.Name())
		}
	}
}
