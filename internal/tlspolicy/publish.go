package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"umbra/internal/httprefusal"
	"umbra/internal/mailaddr"
)

// Publication is the MTA-STS policy a server publishes for the domains it
// receives mail for (the inbound side of RFC 8461 §3.3).
type Publication struct {
	Mode    string
	MX      []string
	MaxAge  time.Duration
	Domains []string // served as mta-sts.<domain>
}

// Text is the policy file.
func (p Publication) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", p.Mode)
	for _, m := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// Handler serves the policy at /.well-known/mta-sts.txt for the hosts
// mta-sts.<domain> of its domains (404 for anything else), as text/plain.
func (p Publication) Handler() http.Handler {
	hosts := map[string]bool{}
	for _, d := range p.Domains {
		hosts["mta-sts."+mailaddr.NameKey(d)] = true
	}
	text := p.Text()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = mailaddr.NameKey(host) // a fully qualified name, in any case or form, is the same host
		if r.URL.Path != "/.well-known/mta-sts.txt" || !hosts[host] || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, text)
	})
}

// Uncovered are the policy hosts (mta-sts.<domain>, at the domain's
// A-label) of p that cert does not name: a sender's fetch of their
// policy fails its certificate check (RFC 8461 §3.3), so the domain has
// no policy for it. A certificate that does not parse names none.
func (p Publication) Uncovered(cert tls.Certificate) []string {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	var out []string
	for _, d := range p.Domains {
		host := "mta-sts." + mailaddr.NameKey(d)
		if leaf == nil || leaf.VerifyHostname(host) != nil {
			out = append(out, host)
		}
	}
	return out
}

// Live is a running publication whose domains and certificate a reload
// replaces (Set) while it serves: a domain added is
// served, a certificate renewed in its file is presented.
type Live struct {
	cur atomic.Pointer[liveState]
}

type liveState struct {
	h    http.Handler
	cert *tls.Certificate
}

// NewLive returns a Live serving p with cert.
func NewLive(p Publication, cert tls.Certificate) *Live {
	l := &Live{}
	l.Set(p, cert)
	return l
}

// Set makes p and cert the publication served from the next request and
// handshake on.
func (l *Live) Set(p Publication, cert tls.Certificate) {
	l.cur.Store(&liveState{h: p.Handler(), cert: &cert})
}

// Server returns the HTTPS server of the live publication: the one
// place its timeouts and TLS settings are set.
func (l *Live) Server() *http.Server {
	return &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.cur.Load().h.ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.cur.Load().cert, nil }}}
}

// PublishRefusals names the publish server in the lines of its
// refusals (httprefusal).
const PublishRefusals = "MTA-STS policy"

// Serve serves the live publication with srv (Server) on ln, a TCP
// listener, until srv is shut down. TLS is taken here, below the
// connections net/http reads, and each is watched by refusals: net/http
// answers a request it cannot read (a malformed request line 400, a
// header past MaxHeaderBytes 431) by itself, reaching no handler and
// logging nothing; refusals logs it as the console, the admin socket and
// the metrics server log theirs. Watched above TLS, where net/http's
// answer is plain text (below it, only records go by). net/http then
// sees no *tls.Conn: the handshake is done at the connection's first
// read, under the header's read deadline, and HTTP/2 is not offered —
// a policy fetch is one small request over HTTP/1.1, which every
// MTA-STS sender speaks. What net/http did of a handshake that failed is
// done here (handshakeConn): a plain-HTTP request is answered 400, and
// the failure is logged (refusals' log, paced by httprefusal's rule).
func (l *Live) Serve(srv *http.Server, ln net.Listener, refusals *httprefusal.Log) error {
	cfg := srv.TLSConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	hs := &handshakes{log: refusals.Logger(), pace: httprefusal.NewPace(httprefusal.Every, nil), timeout: srv.ReadHeaderTimeout}
	return srv.Serve(refusals.Listener(&handshakeListener{Listener: ln, cfg: cfg, hs: hs}))
}

// handshakes logs the publish server's failed TLS handshakes.
type handshakes struct {
	log     *slog.Logger
	pace    *httprefusal.Pace
	timeout time.Duration // the handshake's writes' bound: the header's timeout (net/http sets its write deadline once the header is read)
}

// failed logs the failed handshake of client: a client that closed
// before sending a byte (a TCP health check) at DEBUG, every other
// paced (httprefusal.Pace): one WARN a minute, the rest at DEBUG.
func (h *handshakes) failed(client, reason string, eof bool) {
	const msg = PublishRefusals + " TLS handshake failed; connection closed"
	if eof {
		h.log.Debug(msg, "client", client, "reason", reason)
		return
	}
	h.pace.Log(h.log, msg, "client", client, "reason", reason)
}

// handshakeListener accepts TLS server connections (tls.Server) whose
// handshake is watched (handshakeConn).
type handshakeListener struct {
	net.Listener
	cfg *tls.Config
	hs  *handshakes
}

func (ln *handshakeListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, ln.cfg), raw: c, hs: ln.hs}, nil
}

// handshakeConn is a TLS server connection whose handshake is made at
// its first read (under the read deadline net/http set for the
// request's header, and a write deadline of the header's timeout) and, when it fails, handled as
// net/http handles the handshake of a *tls.Conn it sees: a client that
// sent a plain-HTTP request is answered "400 Bad Request" in plain text
// on the connection below TLS, and the failure is logged.
type handshakeConn struct {
	*tls.Conn
	raw  net.Conn
	hs   *handshakes
	done atomic.Bool // the handshake was made (or failed and was handled)
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	if !c.done.Load() {
		if c.hs.timeout > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.hs.timeout))
		}
		if err := c.Conn.Handshake(); err != nil {
			if !c.done.Swap(true) {
				c.handshakeFailed(err)
			}
			return 0, err
		}
		c.done.Store(true)
	}
	return c.Conn.Read(p)
}

func (c *handshakeConn) handshakeFailed(err error) {
	reason := err.Error()
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && httprefusal.LooksLikeHTTP(re.RecordHeader) {
		io.WriteString(re.Conn, httprefusal.PlainHTTPAnswer)
		reason = "client sent an HTTP request to an HTTPS server"
	}
	c.hs.failed(httprefusal.Client(c.raw.RemoteAddr()), reason, errors.Is(err, io.EOF))
}
