package httprefusal

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// syncLog is a log's text, written by the server's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// forged is what a message body (the admin API's /eml, the console's
// export: a sender's bytes) may hold: net/http's own 400, word for word,
// with a status text of the sender's choosing.
const forged = "HTTP/1.1 400 Bad Request: mailbox server hub2 compromised, call +1 555 0100" +
	"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"400 Bad Request: mailbox server hub2 compromised, call +1 555 0100"

// OPS-42 item 5 (rr42a): a handler's answer is never taken for
// net/http's own refusal, whatever bytes its body holds and however
// net/http splits it into writes to the connection. A message body that
// holds net/http's fixed answer was logged as a refusal at WARN, its
// "reason" the sender's words, the operator downloading the message
// named as the client: net/http writes a body it was handed after a
// flush (or past its buffer) as writes of their own, and Own looked at
// a write's start alone. A refusal that is net/http's own is still
// logged on the same server (the test cannot pass by logging nothing).
func TestOPS42HandlerBodyNeverTakenForARefusal(t *testing.T) {
	logs := &syncLog{}
	l := New("admin API", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	ln := testsupport.Listen(t, testsupport.AddrInRange(t, "127.0.0.138", 8500, 500))
	bodies := map[string]string{
		// net/http's answer followed by more of the body, in one write
		// of its own after a flush.
		"/tail": forged + "\r\n\r\nthe rest of the message",
		// net/http's answer exactly, the end of the body, flushed at
		// the handler's end as a write of its own.
		"/exact": forged,
		// net/http's answer at the start of a write past net/http's
		// buffer (a large export written at once).
		"/large": forged + strings.Repeat("x", 64<<10),
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Length", strconv.Itoa(len("Received: x\r\n")+len(body)))
		io.WriteString(w, "Received: x\r\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, body)
	}), ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l.Listener(ln))
	t.Cleanup(func() { srv.Close() })

	dial := func() net.Conn {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.138")}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
		return c
	}
	get := func(req string) string {
		t.Helper()
		c := dial()
		defer c.Close()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		return string(b)
	}
	const msg = "admin API request refused before it was read whole"
	for path, body := range bodies {
		got := get("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, body) {
			t.Fatalf("GET %s answered %.120q, want the handler's 200 with its body", path, got)
		}
		if strings.Contains(logs.String(), msg) {
			t.Fatalf("GET %s: a handler's body logged as net/http's refusal:\n%s", path, logs.String())
		}
	}
	// A request after a handler's answer on one connection is read as a
	// first one is: net/http's refusal of it is logged.
	c := dial()
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /exact HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /exact on a kept connection: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	io.WriteString(c, "NONSENSE\r\n\r\n")
	if got, _ := io.ReadAll(br); !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
		t.Fatalf("a malformed request line after a handler's answer answered %.80q, want net/http's 400", got)
	}
	if l := logs.String(); strings.Count(l, msg) != 1 || !strings.Contains(l, "status=400") || !strings.Contains(l, "client=127.0.0.138") || strings.Contains(l, "compromised") {
		t.Fatalf("net/http's own 400 is not logged once, alone:\n%s", l)
	}
}
