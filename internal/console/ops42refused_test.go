package console

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/httprefusal"
	"umbra/internal/testsupport"
)

// OPS-42 item 5: net/http answers a request it cannot read — a malformed
// request line (400), a header over its bound (431) — by itself, before
// any handler, and logs it nowhere: the operator saw nothing. The
// console logs each, paced as its other refusals: one WARN per
// httprefusal.Every naming the client and net/http's status, never a
// header's value; the others at DEBUG, counted on the next WARN.
func TestOPS42ConsoleLogsNetHTTPRefusals(t *testing.T) {
	logs := &lockedLog{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	ln := testsupport.Listen(t, testsupport.FreeAddr(t, "127.0.0.133"))
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Self: "hub1.example.org", Clock: clk,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), HeaderTimeout: 30 * time.Second})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	// send writes a request and reads the answer to the close.
	send := func(req string) string {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.133")}}
		c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound, not a timing
		go io.WriteString(c, req)                       // the 431 may come before the whole header is read
		b, _ := io.ReadAll(c)
		return string(b)
	}
	secret := "X-Secret: " + strings.Repeat("s", 2<<20) + "\r\n"
	if got := send("GET / HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\n" + secret + "\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("a header of 2 MiB answered %.80q, want net/http's 431", got)
	}
	const msg = `msg="console request refused before it was read whole; connection closed"`
	line := logs.String()
	if !strings.Contains(line, "level=WARN "+msg) || !strings.Contains(line, "client=127.0.0.133") ||
		!strings.Contains(line, "status=431") || strings.Contains(line, "sss") {
		t.Fatalf("the 431 is not logged at WARN with the client and status alone:\n%.2000s", line)
	}
	if got := send("NONSENSE\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("a malformed request line answered %.80q, want net/http's 400", got)
	}
	if !strings.Contains(logs.String(), "level=DEBUG "+msg) || strings.Count(logs.String(), "level=WARN "+msg) != 1 {
		t.Fatalf("the 400 within the pace is not at DEBUG:\n%s", logs.String())
	}
	clk.Advance(httprefusal.Every)
	send("NONSENSE\r\n\r\n")
	if l := logs.String(); strings.Count(l, "level=WARN "+msg) != 2 || !strings.Contains(l, "status=400") || !strings.Contains(l, "not_warned=1") {
		t.Fatalf("after the pace, no WARN counting the one not warned:\n%s", l)
	}
	// A handler's own 4xx is the console's to log, not a refusal of net/http's.
	before := strings.Count(logs.String(), msg)
	send("GET /nosuch HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\nConnection: close\r\n\r\n")
	if strings.Count(logs.String(), msg) != before {
		t.Errorf("a handler's answer taken for net/http's refusal:\n%s", logs.String())
	}
}
