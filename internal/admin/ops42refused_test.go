package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

type ops42Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *ops42Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *ops42Log) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// OPS-42 item 5: the admin API's net/http answers a malformed request
// (400) by itself, before any handler, and logged nothing of it; it
// logs it now (httprefusal). The socket's peer is still read from the
// connection it watches: TestActionsAreAudited's actor.
func TestOPS42AdminLogsNetHTTPRefusals(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	logs := &ops42Log{}
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
	io.WriteString(c, "NONSENSE\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
		t.Fatalf("a malformed request answered %q, want net/http's 400", b)
	}
	if l := logs.String(); !strings.Contains(l, `level=WARN msg="admin API request refused before it was read whole; connection closed" client=local status=400`) {
		t.Fatalf("the 400 is not logged:\n%s", l)
	}
}
