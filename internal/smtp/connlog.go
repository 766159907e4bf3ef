package smtp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// The connection's story in the log:
// connect, TLS, each message accepted (with HELO, TLS and SASL user), and
// disconnect with its duration and message count. Shadow sessions end at
// DEBUG (a server's heartbeats would otherwise fill the log).

// connStats are what the disconnect line reports. They belong to the
// connection (trackedConn), not to go-smtp's session, which exists only
// from EHLO: a session that ends before it (a limit, an idle timeout, a
// failed TLS handshake, a client gone) is counted and logged like any.
// go-smtp may end the session (Logout) from another goroutine when the
// server closes, so the disconnect line reads only these.
type connStats struct {
	started  time.Time    // set before the session runs
	log      *slog.Logger // the connect-time logger
	clk      clock.Clock
	messages atomic.Int64
	shadow   atomic.Bool // a shadow session
	done     atomic.Bool
}

// connect opens the connection's story: counted as a session opened,
// and its connect line.
func (st *connStats) connect(c *connector, log *slog.Logger, clk clock.Clock, conn net.Conn) {
	st.started, st.log, st.clk = clk.Now(), log, clk
	c.obs.Session(c.cfg.Name)
	local := ""
	if conn != nil && conn.LocalAddr() != nil {
		local = conn.LocalAddr().String()
	}
	log.Info("connect", "local", local)
}

// disconnect writes the disconnect line, once.
func (st *connStats) disconnect() {
	if st.done.Swap(true) || st.log == nil {
		return
	}
	level := slog.LevelInfo
	if st.shadow.Load() {
		level = slog.LevelDebug
	}
	st.log.Log(context.Background(), level, "disconnect", "messages", st.messages.Load(),
		"duration", st.clk.Now().Sub(st.started))
}

// tlsState is the session's TLS version and cipher suite, "" without TLS.
func (s *session) tlsState() (version, cipher string) {
	var st tls.ConnectionState
	ok := false
	if s.vc != nil {
		s.vc.mu.Lock()
		if tc, isTLS := s.vc.conn.(*tls.Conn); isTLS {
			st, ok = tc.ConnectionState(), true
		}
		s.vc.mu.Unlock()
	} else if s.conn != nil {
		st, ok = s.conn.TLSConnectionState()
	}
	if !ok || !st.HandshakeComplete {
		return "", ""
	}
	return tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)
}

func (s *session) logTLS() {
	if v, c := s.tlsState(); v != "" {
		s.log.Info("tls established", "tls_version", v, "tls_cipher", c)
		if o, ok := s.srv.obs.(interface {
			TLS(connector, version string)
		}); ok {
			o.TLS(s.c.cfg.Name, v)
		}
	}
}

// logAccepted is the line of one message taken: envelope sizes, the
// HELO name, TLS and the SASL user (never a credential or the body).
func (s *session) logAccepted(m *queue.Message, size int) {
	s.stats.messages.Add(1)
	attrs := []any{"msg_id", m.ID.String(), "from", m.From, "nrcpt", len(m.Rcpts), "size", size, "helo", m.Helo}
	if m.MessageID != "" {
		attrs = append(attrs, "message_id", m.MessageID)
	}
	if v, c := s.tlsState(); v != "" {
		attrs = append(attrs, "tls_version", v, "tls_cipher", c)
	}
	if s.user != "" {
		attrs = append(attrs, "sasl_user", s.user)
	}
	level := slog.LevelInfo
	if s.shadowServer != "" {
		level = slog.LevelDebug
	}
	s.log.Log(s.srv.ctx, level, "message accepted", attrs...)
}

func (s *session) logDisconnect() { s.stats.disconnect() }
