package smtp

import (
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/backpressure"
)

// replyBackPressure refuses new mail while a resource runs short; the
// sender keeps the message and retries (RFC 5321 452, RFC 3463 4.3.1).
var replyBackPressure = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1},
	Message: "Insufficient system resources, try again later"}

type pressureGate struct {
	state func() backpressure.State
	slow  time.Duration
}

// SetBackPressure makes MAIL obey the back pressure level state reports
// (package backpressure): at high every new message gets 452 4.3.1; at
// medium an anonymous session (neither authenticated nor a transport
// server: the internet's senders) gets it, and the others wait slow
// before their MAIL is answered. Commands that are not new mail (the
// shadow verbs, XQUERYDISCARD, a session's other commands) are not
// affected, and neither is delivery.
func (s *Server) SetBackPressure(state func() backpressure.State, slow time.Duration) {
	s.pressure.Store(&pressureGate{state: state, slow: slow})
}

// OpenSessions counts the SMTP sessions open on every receive connector.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[*connLimits]bool{}
	n := 0
	for _, c := range append(append([]*connector(nil), s.conns...), s.retired...) {
		if c.limits == nil || seen[c.limits] {
			continue
		}
		seen[c.limits] = true
		c.limits.mu.Lock()
		n += c.limits.total
		c.limits.mu.Unlock()
	}
	return n
}

// backPressure decides a MAIL command under the current level.
func (s *session) backPressure() error {
	g := s.srv.pressure.Load()
	if g == nil {
		return nil
	}
	st := g.state()
	anonymous := s.user == "" && !s.server
	switch {
	case st.Level == backpressure.High || (st.Level == backpressure.Medium && anonymous):
		s.srv.refusals.log(s.log, "mail refused: back pressure", "back_pressure", replyBackPressure, s.ip,
			"level", st.Level.String(), "resource", st.Resource)
		if po, ok := s.srv.obs.(PressureObserver); ok {
			po.BackPressureRefused(s.c.cfg.Name)
		}
		return replyBackPressure
	case st.Level == backpressure.Medium && g.slow > 0:
		t := s.srv.clk.NewTimer(g.slow)
		defer t.Stop()
		select {
		case <-t.C():
		case <-s.srv.ctx.Done():
			return replyShuttingDown
		}
	}
	return nil
}
