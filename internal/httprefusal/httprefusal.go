// Package httprefusal logs the answers net/http gives by itself to a
// request it cannot read — 400 Bad Request (a malformed request line or
// header), 431 Request Header Fields Too Large, 501 (an unsupported
// transfer coding) — which reach no handler and which net/http logs
// nowhere, not even to http.Server.ErrorLog: an operator saw nothing of
// them. Such an answer is net/http's one write to the connection of a
// fixed form, whole (Own), made right after reading the request it
// refuses; a Listener's connections (or a server's own connection
// wrapper, with a Watch) look at the first write after each read that
// brought bytes for it, and a Log
// writes one line per refusal, paced: one WARN per Every, the others at
// DEBUG and counted on the next WARN (not_warned). The line names the
// client and net/http's own status text, never a header or any other
// byte of the request.
package httprefusal

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
)

// Every is how often a Log writes a WARN at most.
const Every = time.Minute

// errorHeaders is the header block net/http writes after the status
// line of its own answers (net/http server.go, conn.serve); a handler's
// answer always carries more (Date, Content-Length).
const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// unsupportedTE is the body of net/http's 501 to a transfer coding it
// does not know; its other answers repeat the status line's code and
// text as their body.
const unsupportedTE = "Unsupported transfer encoding"

// Own reports whether p, one write to a connection, is net/http's own
// answer to a request it could not read, with its status code and the
// status line's text after the code ("Bad Request", "Bad Request:
// missing required Host header": net/http's words, never the request's).
// The write must be that answer whole — status line, net/http's header
// block, and its body (the code and text again, or the 501's fixed
// words) ending the write: a handler's body holding those bytes (a
// message shown or exported) is written with more around it or after
// other writes, never as one such write after a read (Conn, Watch).
func Own(p []byte) (code int, why string, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return 0, "", false
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 400 || code > 599 {
		return 0, "", false
	}
	line, after, found := bytes.Cut(rest[4:], []byte("\r\n"))
	if !found {
		return 0, "", false
	}
	body, found := bytes.CutPrefix(after, []byte(errorHeaders[2:]))
	if !found || !(string(body) == string(rest[:4])+string(line) || code == 501 && string(body) == unsupportedTE) {
		return 0, "", false
	}
	return code, string(line), true
}

// Log writes the lines of one server's refusals (what names it: "console",
// "admin API", "metrics", "MTA-STS policy").
type Log struct {
	what string
	log  *slog.Logger
	pace *Pace
}

// New returns the Log of the server what names, writing to log; clk
// paces it (nil: the real clock).
func New(what string, log *slog.Logger, clk clock.Clock) *Log {
	return &Log{what: what, log: log, pace: NewPace(Every, clk)}
}

// Pace is the pacing of a kind of refusal's lines: one WARN per every,
// the refusals in between at DEBUG and counted on the next WARN
// (not_warned). One rule for every server's refused requests: net/http's
// own answers (Log) and the console's headers cut off by their timeout.
type Pace struct {
	every time.Duration
	clk   clock.Clock

	mu        sync.Mutex
	warned    time.Time // the last WARN
	notWarned int       // refusals at DEBUG since
}

// NewPace returns a Pace of one WARN per every; clk reads the time
// (nil: the real clock).
func NewPace(every time.Duration, clk clock.Clock) *Pace {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Pace{every: every, clk: clk}
}

// Log writes a refusal's line to log, msg and args: at WARN, with
// not_warned when refusals went at DEBUG since the last WARN, or at
// DEBUG within every of the last WARN.
func (p *Pace) Log(log *slog.Logger, msg string, args ...any) {
	now := p.clk.Now()
	p.mu.Lock()
	warn := p.warned.IsZero() || now.Sub(p.warned) >= p.every
	notWarned := p.notWarned
	if warn {
		p.warned, p.notWarned = now, 0
	} else {
		p.notWarned++
	}
	p.mu.Unlock()
	if !warn {
		log.Debug(msg, args...)
		return
	}
	if notWarned > 0 {
		args = append(args, "not_warned", notWarned)
	}
	log.Warn(msg, args...)
}

// Saw logs p, a write to the connection of client, when it is net/http's
// own refusal (Own). A connection's writes are given through a Watch,
// which passes only the write a refusal can be.
func (l *Log) Saw(p []byte, client string) {
	if code, why, ok := Own(p); ok {
		l.Refused(client, code, why)
	}
}

// Watch follows one connection for its Log: net/http writes its refusal
// as the first write after the read that brought the request's bytes
// (nothing written between), so only such a write is looked at. Every
// other write — a handler's body after its header or a flush, however
// net/http splits it — is passed by, whatever its bytes. Its methods
// are safe for net/http's reader and writer at once (a background read
// runs while a handler writes).
type Watch struct {
	read atomic.Bool // a read brought bytes since the last write
}

// Read notes a read of n bytes from the connection.
func (w *Watch) Read(n int) {
	if n > 0 {
		w.read.Store(true)
	}
}

// Write gives p, a write to the connection of client, to l when it is
// the first since a read (Saw).
func (w *Watch) Write(l *Log, p []byte, client string) {
	if w.read.Swap(false) {
		l.Saw(p, client)
	}
}

// Refused logs a request refused before any handler saw it: at WARN, or
// at DEBUG within Every of the last WARN.
func (l *Log) Refused(client string, code int, why string) {
	l.pace.Log(l.log, l.what+" request refused before it was read whole; connection closed", "client", client, "status", code, "reason", why)
}

// Logger is the logger l writes to: a server's other lines of refused
// connections go where its refusals go (the MTA-STS publish server's
// failed TLS handshakes).
func (l *Log) Logger() *slog.Logger { return l.log }

// LooksLikeHTTP: the first five bytes a client sent to a TLS server,
// read as a TLS record's header (tls.RecordHeaderError), begin a plain
// HTTP request — net/http's test, by which it answers such a client
// "400 Bad Request" in plain text (PlainHTTPAnswer) when it makes the
// handshake itself; a server that makes it below net/http (the console,
// the MTA-STS publish server) answers so too.
func LooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// PlainHTTPAnswer is net/http's answer, in plain text, to a plain-HTTP
// request sent to a TLS server (LooksLikeHTTP).
const PlainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// Listener wraps ln: each connection it accepts is watched (Conn).
func (l *Log) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Log
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, l: ln.l}, nil
}

// Conn is a connection whose writes are watched for net/http's own
// refusals (Watch). NetConn gives the connection it wraps.
type Conn struct {
	net.Conn
	l *Log
	w Watch
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.Read(n)
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	c.w.Write(c.l, p, Client(c.RemoteAddr()))
	return c.Conn.Write(p)
}

// NetConn is the connection c watches (a Unix socket's peer
// credentials are read from it).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Client is how a line names the peer at a: its host, "local" for a
// Unix socket's peer (which has no address).
func Client(a net.Addr) string {
	if _, unix := a.(*net.UnixAddr); unix || a == nil {
		return "local"
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
