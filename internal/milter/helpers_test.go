package milter

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// fakeQueue records what the SMTP server queued.
type fakeQueue struct {
	mu     sync.Mutex
	next   queue.ID
	msgs   []*queue.Message
	bodies [][]byte
	// spooled: each SubmitBody's body was in a spool file.
	spooled []bool
}

func (q *fakeQueue) NewID() queue.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	return 0x1000 + q.next
}

func (q *fakeQueue) Submit(ctx context.Context, m *queue.Message, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	q.bodies = append(q.bodies, body)
	return nil
}

// SubmitBody takes a body that may be spooled, whole.
func (q *fakeQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	b, err := body.Bytes()
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.spooled = append(q.spooled, body.Spooled())
	q.mu.Unlock()
	return q.Submit(ctx, m, bytes.Clone(b))
}

func (q *fakeQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

func (q *fakeQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

func (q *fakeQueue) last(t *testing.T) (*queue.Message, string) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		t.Fatal("nothing queued")
	}
	return q.msgs[len(q.msgs)-1], string(q.bodies[len(q.bodies)-1])
}

// startMTA runs umbra's SMTP server on loopback with one connector
// whose milters section is given, built the way cmd/umbra builds it.
func startMTA(t testing.TB, q *fakeQueue, milters string) *smtp.Server {
	t.Helper()
	return startMTASpool(t, q, milters, nil, 0)
}

// startMTASpool is startMTA spooling bodies past threshold to st.
func startMTASpool(t testing.TB, q *fakeQueue, milters string, st *queue.Store, threshold int64) *smtp.Server {
	t.Helper()
	return startMTAMem(t, q, milters, st, threshold, 0)
}

// startMTAMem is startMTASpool with transport.body_memory_limit memLimit
// (0: none).
func startMTAMem(t testing.TB, q *fakeQueue, milters string, st *queue.Store, threshold, memLimit int64) *smtp.Server {
	t.Helper()
	return startMTAObserved(t, q, milters, st, threshold, memLimit, nil, nil)
}

// startMTAObserved is startMTAMem with the milters' log and metrics
// going to log and reg (nil: nowhere); the server's log goes to log too,
// the session's refusal lines (a milter's failure, noted there) with it.
func startMTAObserved(t testing.TB, q *fakeQueue, milters string, st *queue.Store, threshold, memLimit int64,
	log *slog.Logger, reg prometheus.Registerer) *smtp.Server {
	t.Helper()
	var spool func() (*queue.SpoolFile, error)
	if st != nil {
		spool = st.NewSpool
	}
	cfg, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    milters:
`+milters), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	met := NewMetrics(reg)
	build := func(rc config.ReceiveConnector) ([]smtp.Check, error) {
		var out []smtp.Check
		for _, mc := range rc.Milters {
			c, err := New(mc, "mx.test", log, met)
			if err != nil {
				return nil, err
			}
			c.SetMaxLineLength(cmp.Or(rc.Limits.MaxLineLength, config.DefaultMaxLineLength)) // as cmd/umbra does
			c.SetMaxHeaderSize(64 << 10)                                                     // a small transport.max_header_size
			c.SetMaxMessageSize(int64(rc.Limits.MaxMessageSize))                             // as cmd/umbra does
			out = append(out, c)
		}
		return out, nil
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative},
		{Domain: "xn--bcher-kva.example", Type: routing.Authoritative}}, nil)
	s, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: cfg.ReceiveConnectors, Routing: table, Queue: q, Checks: build,
		Postmaster: "admin@example.test", Log: log,
		Spool: spool, SpoolThreshold: threshold, BodyMemoryLimit: memLimit})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// dialog is an SMTP client that sends lines and reads replies.
type dialog struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, s *smtp.Server) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	d := &dialog{t: t, conn: c, r: bufio.NewReader(c)}
	d.expect("220")
	return d
}

// reply reads one reply, every line joined by "|".
func (d *dialog) reply() string {
	d.t.Helper()
	var all []string
	for {
		l, err := d.r.ReadString('\n')
		if err != nil {
			return "EOF " + err.Error()
		}
		l = strings.TrimRight(l, "\r\n")
		all = append(all, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(all, "|")
		}
	}
}

func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	got := d.reply()
	if !strings.HasPrefix(got, prefix) {
		d.t.Fatalf("reply %q, want %q", got, prefix)
	}
	return got
}

func (d *dialog) cmd(line, want string) string {
	d.t.Helper()
	if _, err := d.conn.Write([]byte(line + "\r\n")); err != nil {
		d.t.Fatal(err)
	}
	return d.expect(want)
}

// send runs a whole transaction and returns the reply to the end of data.
func (d *dialog) send(from string, rcpts []string, content string) string {
	d.t.Helper()
	d.cmd("MAIL FROM:<"+from+">", "250")
	for _, r := range rcpts {
		d.cmd("RCPT TO:<"+r+">", "250")
	}
	d.cmd("DATA", "354")
	if _, err := d.conn.Write([]byte(content + ".\r\n")); err != nil {
		d.t.Fatal(err)
	}
	return d.reply()
}
