package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// The crash argument for spool files (doc.go, point 7) with real
// processes: a child process writes a 25 MiB body into a spool file and
// submits it (or is still writing it), and is killed with SIGKILL; the
// store opened again either delivers the acknowledged message whole,
// streamed over SMTP to a loopback sink, or holds no message and no
// spool file.

const killChildEnv = "UMBRA_SPOOL_KILL_CHILD"

const largeSize = 25 << 20

// largeBody is deterministic, so parent and child agree on it without
// passing it: header, then lines with dots to stuff.
func largeBody() []byte {
	var b bytes.Buffer
	b.Grow(largeSize + 200)
	b.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: large\r\n\r\n")
	for i := 0; b.Len() < largeSize; i++ {
		if i%9 == 0 {
			b.WriteString(".dot line\r\n")
		}
		fmt.Fprintf(&b, "line %08d of a large message, streamed and never whole in memory\r\n", i)
	}
	return b.Bytes()
}

// TestSpoolKillChild is the child's part; it runs only when started by
// the tests below.
func TestSpoolKillChild(t *testing.T) {
	mode := os.Getenv(killChildEnv)
	if mode == "" {
		t.Skip("run by TestKill9SpooledMessage")
	}
	dir := os.Getenv("UMBRA_SPOOL_KILL_DIR")
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	w, err := s.NewSpool()
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	content := largeBody()
	for off := 0; off < len(content); off += 64 << 10 {
		if mode == "mid" && off >= len(content)/2 {
			fmt.Println("WRITING") // half written, never finished: killed here
			select {}
		}
		if _, err := w.Write(content[off:min(off+64<<10, len(content))]); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
	}
	body, err := w.Finish()
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	never := queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		select {} // in delivery when killed
	})
	q := queue.NewManager(s, never, queue.ManagerConfig{})
	m := &queue.Message{ID: q.NewID(), From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.SubmitBody(context.Background(), m, body); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ACK", m.ID.String()) // what a session's 250 follows
	select {}
}

// killChild starts the child in mode, waits for its line and kills it.
func killChild(t *testing.T, dir, mode, want string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+mode, "UMBRA_SPOOL_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); len(l) >= 3 && (l[:3] == "ACK" || l[:3] == "ERR" || l == "WRITING") {
				line <- l
				return
			}
		}
		line <- "EOF"
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(120 * time.Second): // a bound on the test, not a timing assertion
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the child said nothing")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(l) < len(want) || l[:len(want)] != want {
		t.Fatalf("child: %q, want %s", l, want)
	}
	return l
}

type sinkBackend struct {
	mu  sync.Mutex
	got [][32]byte
	n   []int
}

type sinkSession struct{ b *sinkBackend }

func (s *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r) // hashed as it arrives: the sink holds no copy either
	if err != nil {
		return err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	s.b.mu.Lock()
	s.b.got, s.b.n = append(s.b.got, sum), append(s.b.n, int(n))
	s.b.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

func TestKill9SpooledMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 25 MiB files")
	}
	t.Run("acknowledged then killed: delivered whole after restart", func(t *testing.T) {
		dir := t.TempDir()
		ack := killChild(t, dir, "ack", "ACK")
		sb := &sinkBackend{}
		srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{b: sb}, nil }))
		srv.Domain, srv.ErrorLog, srv.MaxMessageBytes = "sink.test", nopLog{}, 64<<20
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		p, _ := strconv.Atoi(port)
		conn := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
			SmartHosts: []string{"127.0.0.1"}, Port: p, TLS: config.TLSNone}
		table := routing.NewTable(nil, []routing.Connector{{Name: "out", Enabled: true,
			AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
		d, err := delivery.New(delivery.Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn},
			ConnectTimeout: 5 * time.Second, CommandTimeout: 30 * time.Second, DataTimeout: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if miss := s.MissingSpool(); len(miss) != 0 {
			t.Fatalf("acknowledged message's spool file missing after the kill: %v", miss)
		}
		q := queue.NewManager(s, d, queue.ManagerConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		defer func() { cancel(); q.Wait() }()
		if rec, _, err := q.Recover(ctx); err != nil || rec != 1 {
			t.Fatalf("recovered %d, %v; want the message in delivery at the kill", rec, err)
		}
		id, err := queue.ParseID(ack[4:])
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		q.Start(ctx)
		gone, stop := q.WaitGone(id)
		defer stop()
		select {
		case <-gone:
		case <-time.After(120 * time.Second): // a bound on the test
			t.Fatal("the acknowledged message was not delivered after the restart")
		}
		runtime.ReadMemStats(&after)
		// Streamed: the delivery (and the sink, which hashes as it
		// reads) allocate pieces, never the 25 MiB content.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("delivery of the %d-byte spooled message allocated %d bytes", largeSize, alloc)
		if alloc > largeSize/2 {
			t.Errorf("delivering the spooled message allocated %d bytes: it was read whole", alloc)
		}
		want := sha256.Sum256(largeBody())
		sb.mu.Lock()
		defer sb.mu.Unlock()
		if len(sb.got) != 1 || sb.got[0] != want {
			t.Fatalf("sink got %d messages (%v bytes); want the 25 MiB message byte for byte", len(sb.got), sb.n)
		}
		waitEmpty(t, filepath.Join(dir, "spool"))
	})
	t.Run("killed mid-transfer: no message, orphan removed", func(t *testing.T) {
		dir := t.TempDir()
		killChild(t, dir, "mid", "WRITING")
		ents, _ := os.ReadDir(filepath.Join(dir, "spool"))
		if len(ents) != 1 {
			t.Fatalf("%d spool files after the kill, want the half-written one", len(ents))
		}
		s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n := 0
		s.View(func(tx *queue.Tx) error {
			tx.ForEach(func(*queue.Message, error) bool { n++; return true })
			return nil
		})
		if n != 0 {
			t.Fatalf("%d messages after a kill before the commit", n)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "spool")); len(ents) != 0 {
			t.Fatalf("orphan spool file left after Open: %v", ents[0].Name())
		}
	})
}

func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		if len(ents) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spool files left after delivery", len(ents))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
