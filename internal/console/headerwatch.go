package console

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/httprefusal"
)

// A request whose header has not ended by the header timeout is closed
// by net/http without a log line: it writes no reply (or, when the
// timeout cut a line of the header short, the 400 of a malformed line,
// which bufio hands on without the timeout) and logs nothing. The
// console logs it as it logs its other refused requests, paced: a
// client that opens many such connections (each held for the timeout)
// writes one WARN per headerTimeoutLogEvery, the others at DEBUG and
// counted on the next WARN (not_warned).
//
// net/http does not say why it closed a connection, so the console
// watches each one above TLS (watchedConn: the bytes of requests, a
// read that hit its deadline) and reads the server's connection states
// (headerWatch.state): a connection that turns active — net/http's
// "some bytes of a request were read" — after a read timed out had its
// header cut off by the timeout (a request read whole turns active
// before any deadline of its body can pass). A connection that sent no
// byte of a request (a browser's preconnect, an idle keep-alive) closes
// at its timeout without turning active: nothing was refused, nothing
// is logged.
//
// The connection net/http serves is therefore not a *tls.Conn: the
// watcher does the handshake itself at the first read, under the
// header's deadline (a handshake that fails is logged at DEBUG, as
// net/http logged it; a plain-HTTP request gets net/http's answer to
// it), and r.TLS is nil — the console reads no field of it.
type headerWatch struct {
	log     *slog.Logger
	timeout time.Duration

	pace *httprefusal.Pace // its lines' pacing: httprefusal's rule

	// own logs net/http's own answers to requests it could not read (a
	// malformed request 400, a header too large 431), which reach no
	// handler and which net/http logs nowhere (watchedConn.Write).
	own *httprefusal.Log
}

// watchListener hands net/http each TLS connection watched.
type watchListener struct {
	net.Listener // tls.NewListener's
	w            *headerWatch
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, tc: c.(*tls.Conn), w: l.w}, nil
}

// watchedConn is a console connection as net/http reads it: the TLS
// connection, its handshake done at the first read, and what the
// watcher needs to tell a header cut off by its timeout.
type watchedConn struct {
	net.Conn
	tc       *tls.Conn
	w        *headerWatch
	shake    sync.Once
	shakeErr error
	timedOut atomic.Bool  // a read hit its deadline since the last request (StateIdle clears it)
	got      atomic.Int64 // bytes of requests read
	refusal  httprefusal.Watch
}

func (c *watchedConn) Read(p []byte) (int, error) {
	c.shake.Do(c.handshake)
	if c.shakeErr != nil {
		return 0, c.shakeErr
	}
	n, err := c.tc.Read(p)
	c.got.Add(int64(n))
	c.refusal.Read(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

// Write is the TLS connection's; net/http's own refusal of a request it
// could not read is logged (httprefusal).
func (c *watchedConn) Write(p []byte) (int, error) {
	c.refusal.Write(c.w.own, p, hostOf(c.RemoteAddr()))
	return c.Conn.Write(p)
}

// CloseWrite is the TLS connection's: net/http half-closes a connection
// it ends (closeWriteAndWait).
func (c *watchedConn) CloseWrite() error { return c.tc.CloseWrite() }

// handshake is net/http's handshake of a TLS connection, here: under
// the read deadline net/http set for the header and a write deadline
// of the header timeout; a failure logged at DEBUG, and a client that
// sent a plain HTTP request told so in plain HTTP.
func (c *watchedConn) handshake() {
	c.tc.SetWriteDeadline(time.Now().Add(c.w.timeout)) // net/http sets its own once the header is read
	err := c.tc.HandshakeContext(context.Background())
	if err == nil {
		return
	}
	c.shakeErr = err
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && httprefusal.LooksLikeHTTP(re.RecordHeader) {
		c.w.own.Refused(hostOf(c.RemoteAddr()), http.StatusBadRequest, "Bad Request: a plain HTTP request to the HTTPS console")
		io.WriteString(re.Conn, httprefusal.PlainHTTPAnswer)
		re.Conn.Close()
		return
	}
	if !errors.Is(err, io.EOF) {
		c.w.log.Debug("console TLS handshake failed", "client", hostOf(c.RemoteAddr()), "err", err.Error())
	}
}

// state is the server's ConnState hook (see the comment at the top).
func (w *headerWatch) state(c net.Conn, st http.ConnState) {
	wc, ok := c.(*watchedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		wc.timedOut.Store(false)
	case http.StateActive:
		if wc.timedOut.Load() {
			w.refused(hostOf(wc.RemoteAddr()), wc.got.Load())
		}
	}
}

// refused logs a request whose header did not end in time: at WARN,
// or at DEBUG within headerTimeoutLogEvery of the last WARN.
func (w *headerWatch) refused(client string, got int64) {
	w.pace.Log(w.log, "console request refused: request header not complete within the header timeout; connection closed",
		"client", client, "timeout", w.timeout, "connection_bytes", got)
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
