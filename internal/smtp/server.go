package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// Queue is what a receive session needs of the queue: ids for trace
// headers, and a Submit that returns once the message is durable.
type Queue interface {
	NewID() queue.ID
	Submit(ctx context.Context, m *queue.Message, body []byte) error
}

// Observer is told about sessions and their outcome (metrics).
type Observer interface {
	Session(connector string)
	Rejected(connector, why string)
	Received(connector string, size int)
	Command(connector, command string, code int)
}

type nopObserver struct{}

func (nopObserver) Session(string)              {}
func (nopObserver) Rejected(string, string)     {}
func (nopObserver) Received(string, int)        {}
func (nopObserver) Command(string, string, int) {}
func (nopObserver) Reply(string, string, int)   {}

// ServerConfig configures the receive side.
type ServerConfig struct {
	Hostname   string
	Connectors []config.ReceiveConnector
	Routing    *routing.Table
	Queue      Queue
	Log        *slog.Logger
	Observer   Observer
}

// Server is every receive connector of one umbra server.
type Server struct {
	cfg      ServerConfig
	log      *slog.Logger
	obs      Observer
	bindings []*binding
	conns    []*connector
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// connector is one receive connector: its settings, its go-smtp server
// and its connection accounting.
type connector struct {
	cfg    config.ReceiveConnector
	ranges []netip.Prefix
	creds  *Credentials
	tls    *tls.Config
	limits *connLimits
	vln    *chanListener
	gs     *gosmtp.Server
}

// NewServer prepares the connectors: it loads certificates and
// credentials, so a bad file fails the start, not the first session.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{cfg: cfg, log: cfg.Log, obs: cfg.Observer}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, rc := range cfg.Connectors {
		c := &connector{cfg: rc, limits: &connLimits{max: rc.Limits.MaxConnections,
			per: rc.Limits.MaxConnectionsPerSource, perSource: map[netip.Addr]int{}}}
		for _, r := range rc.RemoteRanges {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", rc.Name, err)
			}
			c.ranges = append(c.ranges, p.Masked())
		}
		if rc.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(rc.TLS.CertFile, rc.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", rc.Name, err)
			}
			c.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if rc.Auth.CredentialsFile != "" {
			creds, err := LoadCredentials(rc.Auth.CredentialsFile)
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", rc.Name, err)
			}
			c.creds = creds
		}
		c.gs = s.newGoSMTP(c)
		s.conns = append(s.conns, c)
	}
	return s, nil
}

func (s *Server) newGoSMTP(c *connector) *gosmtp.Server {
	gs := gosmtp.NewServer(gosmtp.BackendFunc(func(conn *gosmtp.Conn) (gosmtp.Session, error) {
		return s.newSession(c, conn), nil
	}))
	banner := c.cfg.Banner
	if banner == "" {
		banner = s.cfg.Hostname
	}
	gs.Domain = banner
	gs.MaxMessageBytes = int64(c.cfg.Limits.MaxMessageSize)
	gs.MaxRecipients = c.cfg.Limits.MaxRecipients
	gs.MaxLineLength = c.cfg.Limits.MaxLineLength
	gs.ReadTimeout = c.cfg.Limits.IdleTimeout.D()
	gs.WriteTimeout = c.cfg.Limits.IdleTimeout.D()
	gs.TLSConfig = c.tls
	gs.AllowInsecureAuth = c.cfg.Auth.AllowInsecure
	gs.EnableSMTPUTF8 = true
	gs.EnableDSN = true
	gs.ErrorLog = slogPrinter{s.log.With("connector", c.cfg.Name)}
	return gs
}

// Listen opens every binding. Call Serve afterwards.
func (s *Server) Listen() error {
	byAddr := map[string]*binding{}
	for _, c := range s.conns {
		for _, addr := range c.cfg.Bindings {
			b := byAddr[addr]
			if b == nil {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					s.closeListeners()
					return fmt.Errorf("connector %s: %w", c.cfg.Name, err)
				}
				b = &binding{addr: addr, ln: ln}
				byAddr[addr] = b
				s.bindings = append(s.bindings, b)
			}
			b.conns = append(b.conns, c)
		}
	}
	for _, c := range s.conns {
		var addr net.Addr
		for _, b := range s.bindings {
			for _, bc := range b.conns {
				if bc == c && addr == nil {
					addr = b.ln.Addr()
				}
			}
		}
		c.vln = newChanListener(addr)
	}
	return nil
}

// Addrs returns the bound addresses (useful with port 0 in tests).
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, b := range s.bindings {
		out = append(out, b.ln.Addr())
	}
	return out
}

// Serve accepts connections until Shutdown.
func (s *Server) Serve() {
	for _, c := range s.conns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := c.gs.Serve(c.vln); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("connector stopped", "connector", c.cfg.Name, "err", err)
			}
		}()
	}
	for _, b := range s.bindings {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			b.serve(func(c *connector, ip netip.Addr, why string) {
				name := ""
				if c != nil {
					name = c.cfg.Name
				}
				s.obs.Rejected(name, why)
				s.log.Info("connection refused", "connector", name, "client_ip", ip.String(), "reason", why)
			})
		}()
	}
}

func (s *Server) closeListeners() {
	for _, b := range s.bindings {
		b.ln.Close()
	}
}

// Shutdown drains: it stops accepting, closes sessions as soon as they are
// outside a mail transaction (with 421), lets transactions in progress
// finish until ctx ends, then closes whatever is left. A session cut off
// mid-DATA never got its 250, so its client still owns the message.
func (s *Server) Shutdown(ctx context.Context) {
	s.closeListeners()
	for _, c := range s.conns {
		if c.vln != nil {
			c.vln.Close()
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		open := 0
		for _, c := range s.conns {
			open += c.limits.closeIdle(false)
		}
		if open == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for _, c := range s.conns {
				c.limits.closeIdle(true)
			}
			open = 0
		case <-tick.C:
		}
		if open == 0 {
			break
		}
	}
	for _, c := range s.conns {
		c.gs.Close()
	}
	s.cancel()
	s.wg.Wait()
}

// slogPrinter adapts go-smtp's Printf logger to slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) { p.l.Warn(fmt.Sprintf(format, v...)) }
func (p slogPrinter) Println(v ...any)               { p.l.Warn(fmt.Sprint(v...)) }
