package console

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/testsupport"
)

// lockedLog is a log sink read while the console writes to it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestConsoleHeaderTimeoutLoggedPaced (OPS-5): a request whose header
// never ends is closed after the header timeout with a log line, as the
// console's other refused requests are (URL too long, form too large,
// cross-origin) — it was closed without one. A client that opens many
// is logged paced: one WARN per headerTimeoutLogEvery, the others at
// DEBUG and counted on the next WARN. A connection that sends no byte
// of a request (a browser's preconnect) is closed at the same timeout
// without a WARN: no request was refused.
func TestConsoleHeaderTimeoutLoggedPaced(t *testing.T) {
	logs := &lockedLog{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	ln := testsupport.Listen(t, testsupport.FreeAddr(t, "127.0.0.158"))
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Self: "hub1.example.org", Clock: clk,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), HeaderTimeout: 300 * time.Millisecond})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	// open sends what of a request it is given and waits (bounded) for
	// the console to close the connection.
	open := func(sent string) {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if sent != "" {
			if _, err := io.WriteString(c, sent); err != nil {
				t.Fatal(err)
			}
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("the connection was not closed silently: %q %v", b, err)
		}
	}
	warns := func() int {
		return strings.Count(logs.String(), "level=WARN msg=\"console request refused: request header not complete")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s; log:\n%s", what, logs.String())
			}
		}
	}
	partial := "GET /messages HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\nX-Slow: "

	open("") // a preconnect: no request, no WARN
	open(partial)
	waitFor("no WARN for a request header that never ended", func() bool { return warns() == 1 })
	line := logs.String()
	if !strings.Contains(line, "client=127.0.0.") || !strings.Contains(line, "timeout=300ms") {
		t.Errorf("the WARN does not name the client and the timeout:\n%s", line)
	}
	// Within the pace: at DEBUG, not WARNed.
	open(partial)
	waitFor("the second refusal not logged at DEBUG", func() bool {
		return strings.Contains(logs.String(), "level=DEBUG msg=\"console request refused: request header not complete")
	})
	if warns() != 1 {
		t.Fatalf("a second WARN within the pace:\n%s", logs.String())
	}
	// The pace passed: WARNed again, with the one not WARNed counted.
	clk.Advance(headerTimeoutLogEvery)
	open(partial)
	waitFor("no WARN after the pace", func() bool { return warns() == 2 })
	if !strings.Contains(logs.String(), "not_warned=1") {
		t.Errorf("the WARN after the pace does not count the refusal not WARNed:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "request header not complete"); n != 3 {
		t.Errorf("%d lines for 3 refused requests (the preconnect logged?):\n%s", n, logs.String())
	}
}

// The console's connections are watched above TLS (headerwatch.go), so
// the handshake is the console's: a client that sends a plain HTTP
// request still gets net/http's plain answer saying so, and a request
// over TLS is served.
func TestConsolePlainHTTPToldTLS(t *testing.T) {
	ln := testsupport.Listen(t, testsupport.FreeAddr(t, "127.0.0.158"))
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Self: "hub1.example.org", Log: slog.New(slog.DiscardHandler)})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+ln.Addr().String()+"\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request") || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP: %q", b)
	}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Get("https://" + ln.Addr().String() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /login over TLS: %d", res.StatusCode)
	}
}

// TestConsoleHeaderCutMidLineLogged (OPS-5): a header the timeout cuts
// in the middle of a line — the request line itself, or a field's name —
// is answered by net/http as a malformed line (400: bufio hands the
// partial line on without the timeout), and is logged as a header that
// did not end in time, as one cut after a whole line is.
func TestConsoleHeaderCutMidLineLogged(t *testing.T) {
	logs := &lockedLog{}
	ln := testsupport.Listen(t, testsupport.FreeAddr(t, "127.0.0.158"))
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Self: "hub1.example.org",
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), HeaderTimeout: 300 * time.Millisecond})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	for _, sent := range []string{"GET /mess", "GET /messages HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\nX-Sl"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, sent)
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
			t.Errorf("%q: answered %q, want net/http's 400", sent, b)
		}
	}
	for end := time.Now().Add(30 * time.Second); strings.Count(logs.String(), "request header not complete") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("a header cut mid-line is not logged:\n%s", logs.String())
		}
	}
}
