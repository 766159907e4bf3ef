package connfilter

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// HELO is the HELO checks of one receive connector.
type HELO struct {
	connector string
	cfg       config.HELOChecks
	opt       Options
}

// NewHELO builds the checks from a connector's settings.
func NewHELO(connector string, cfg config.HELOChecks, opt Options) (*HELO, error) {
	opt.defaults()
	if opt.Resolver == nil && (on(cfg.FCrDNS) || on(cfg.MustResolve)) {
		return nil, errors.New("helo checks: no resolver")
	}
	return &HELO{connector: connector, cfg: cfg, opt: opt}, nil
}

func on(action string) bool { return action != "" && action != config.ActionOff }

// Name implements smtp.Check.
func (h *HELO) Name() string { return "helo" }

// Results of a check.
const (
	pass    = "pass"
	fail    = "fail"
	errored = "error" // DNS could not be asked
	// stopped: umbra's stop cut the check's DNS short (the server's
	// context): no failure of DNS's. Counted as "cancelled", answered
	// as errored (the session ends with the stop anyway).
	stopped = "cancelled"
	// crashed: the resolver's goroutine panicked (resolver.ErrPanicked),
	// umbra's defect: counted as "panicked", answered as errored.
	crashed = "panicked"
)

// Open implements smtp.SessionCheck: a session's HELO checks remember
// what its greeting passed for AUTH alone, which its MAIL asks again,
// and which results it counted. Both are the session's: the topology
// may take the client's address from its server after the greeting,
// and that must not skip the checks DNS never answered.
func (h *HELO) Open(context.Context, *smtp.ConnInfo) smtp.CheckSession {
	return &heloSession{h: h, counted: map[[2]string]bool{}}
}

// heloSession is one session's HELO checks.
type heloSession struct {
	h *HELO
	// mu guards the rest: the stages of a session run one at a time,
	// but a reload's followChecks may hand the value to another list.
	mu sync.Mutex
	// forAuth: the session's last greeting passed a check DNS could
	// not answer because the topology gave the client's address to a
	// server (act) — for its AUTH, so its MAIL asks again (Mail).
	forAuth bool
	// counted: the check and result pairs the session counted in
	// umbra_helo_checks_total; asked again at MAIL, a result already
	// counted is not counted twice.
	counted map[[2]string]bool
}

func (s *heloSession) Name() string { return s.h.Name() }
func (s *heloSession) Reset()       {}
func (s *heloSession) Close()       {}

// Helo implements smtp.HeloCheck: syntax, then the client's reverse DNS,
// then whether the name resolves; the first refusal answers.
func (s *heloSession) Helo(ctx context.Context, c *smtp.ConnInfo, name string) smtp.Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forAuth = false // every greeting is judged afresh
	if c.Server {
		return smtp.Verdict{}
	}
	return s.h.check(ctx, s, c, name, c.ServerAddress)
}

// Mail implements smtp.MailCheck: a client whose greeting passed a check
// DNS could not answer because the topology gave its address to a server
// passed it for its AUTH (act), not for its mail. That address proves
// nothing before AUTH (anyone behind it may connect): unless the session
// proved to be a transport server by its MAIL, the checks are asked
// again and answer as they would have at its greeting — 450 while DNS
// cannot answer, never a 5xx for that — whatever the topology says of
// the address by then. Any other client was judged at its HELO alone.
func (s *heloSession) Mail(ctx context.Context, c *smtp.ConnInfo, _ string, _ *gosmtp.MailOptions) smtp.Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Server || !s.forAuth {
		return smtp.Verdict{}
	}
	return s.h.check(ctx, s, c, c.Helo, false)
}

// count reports whether the session has yet to count result of check.
func (s *heloSession) count(check, result string) bool {
	k := [2]string{check, result}
	if s.counted[k] {
		return false
	}
	s.counted[k] = true
	return true
}

// check runs the HELO checks on name for session s; forAuth passes what
// DNS could not answer (a client at a server's address, at its greeting).
func (h *HELO) check(ctx context.Context, s *heloSession, c *smtp.ConnInfo, name string, forAuth bool) smtp.Verdict {
	stopping := ctx // the server's: cancelled when umbra stops
	// cut is r, or stopped when DNS could not be asked because umbra
	// is stopping: not DNS's error (TestHELOStopCountedCancelledNotError).
	cut := func(r string) string {
		if r == errored && stopping.Err() != nil {
			return stopped
		}
		return r
	}
	// noted: the refusals of the checks whose action only logs, carried
	// on the verdict for the session's refusal log (Verdict.Noted).
	var noted []smtp.Noted
	act := func(check, action, result, name, detail string, perm, temp smtp.Verdict) (smtp.Verdict, bool) {
		v, stop := h.act(s, c, forAuth, check, action, result, name, detail, perm, temp)
		noted = append(noted, v.Noted...)
		v.Noted = noted
		return v, stop
	}
	ip := c.IP.Unmap()
	shown := printable(name)
	// The command the client sent (an EHLO refused as "HELO command
	// rejected" named one it never sent: rt45-front item 3).
	verb := c.Greeting
	if verb == "" {
		verb = "HELO"
	}
	valid := ValidHELO(name)
	if on(h.cfg.Syntax) {
		r := pass
		if !valid {
			r = fail
		}
		if v, stop := act("syntax", h.cfg.Syntax, r, name, "",
			// 5.5.4, as the front door refuses a greeting argument
			// (Invalid EHLO argument): one code for one kind of error.
			refuse(501, 5, 5, 4, "<"+shown+">: "+verb+" command rejected: not a host name or address literal"),
			refuse(450, 4, 7, 1, "<"+shown+">: "+verb+" command rejected: not a host name or address literal; try again later")); stop {
			return v
		}
	}
	if on(h.cfg.FCrDNS) && ip.IsValid() {
		ctx, cancel := context.WithTimeout(ctx, h.opt.Timeout)
		r, detail := h.fcrdns(ctx, ip)
		cancel()
		r = cut(r)
		if v, stop := act("fcrdns", h.cfg.FCrDNS, r, name, detail,
			refuse(550, 5, 7, 25, "Client host rejected: the reverse DNS of ["+ip.String()+"] does not confirm it"),
			refuse(450, 4, 7, 25, "Client host rejected: cannot confirm the reverse DNS of ["+ip.String()+"] now; try again later")); stop {
			return v
		}
	}
	if on(h.cfg.MustResolve) && valid && !strings.HasPrefix(name, "[") {
		ctx, cancel := context.WithTimeout(ctx, h.opt.Timeout)
		r, detail := pass, ""
		if _, err := h.opt.Resolver.LookupIPAddr(ctx, name); err != nil {
			r, detail = classify(err), err.Error()
		}
		cancel()
		r = cut(r)
		if v, stop := act("must_resolve", h.cfg.MustResolve, r, name, detail,
			refuse(550, 5, 7, 1, "<"+shown+">: "+verb+" command rejected: host not found"),
			refuse(450, 4, 7, 1, "<"+shown+">: "+verb+" command rejected: cannot find the host now; try again later")); stop {
			return v
		}
	}
	return smtp.Verdict{Noted: noted}
}

// act counts a check's result (once a session) and turns it into a
// verdict by the action: a DNS error never gets the permanent reply.
func (h *HELO) act(s *heloSession, c *smtp.ConnInfo, forAuth bool, check, action, result, name, detail string, perm, temp smtp.Verdict) (smtp.Verdict, bool) {
	if s.count(check, result) {
		h.opt.Metrics.heloResult(check, result)
	}
	// The result as the log says it: a lookup umbra's stop cut short
	// (cancelled) or the resolver's recovered panic (panicked) is no
	// failure of DNS's, and the line says which (front48 item 4).
	logged := result
	if result == stopped || result == crashed {
		result = errored // answered as DNS that could not be asked: never a 5xx
	}
	if result == pass {
		return smtp.Verdict{}, false
	}
	// Neither the client's address nor the connector: the session's
	// logger, which writes the log-only refusal (Verdict.Noted), names
	// both; the check's own line below adds them.
	attrs := []any{"check", check, "result", logged, "helo", printable(name), "action", action}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	switch {
	case action == config.ActionLog:
		// Said on the session's rate-limited refusal log (Verdict.Noted)
		// with the codes of the reply the check would have given: a line
		// per HELO of the check's own was any client's to multiply.
		would := temp.Reply
		if result == fail {
			would = perm.Reply
		}
		return smtp.Verdict{Noted: []smtp.Noted{{Msg: "HELO check failed (log only)", Reason: "helo_" + check,
			Reply: would, Attrs: attrs}}}, false
	case result == errored && forAuth:
		// The topology gives the client's address to a server of the
		// organisation, which must reach its AUTH: DNS that cannot
		// answer says nothing against it, and a 450 here kept the
		// server's shadow session (its copies on receipt, heartbeats)
		// from opening for as long as the resolver was down (avail40).
		// What DNS does answer still decides, and a client that is no
		// transport server by its MAIL is asked again there (Mail).
		h.opt.Log.Info("HELO check not answered: passed for a server's address", append(attrs, "client_ip", c.IP.Unmap().String(), "connector", h.connector)...)
		s.forAuth = true
		return smtp.Verdict{}, false
	case action == config.ActionReject && result == fail:
		return perm, true
	default: // tempfail, or reject when DNS could not say
		return temp, true
	}
}

// fcrdns checks forward-confirmed reverse DNS: a PTR name of ip whose
// addresses include ip. At most 10 names are followed.
func (h *HELO) fcrdns(ctx context.Context, ip netip.Addr) (string, string) {
	names, err := h.opt.Resolver.LookupAddr(ctx, ip.String())
	if err != nil {
		return classify(err), err.Error()
	}
	var sawErr error
	for i, n := range names {
		if i == 10 {
			break
		}
		addrs, err := h.opt.Resolver.LookupIPAddr(ctx, n)
		if err == nil && ip.Is4() {
			// A records confirm an IPv4 client: an AAAA record
			// holding ::ffff:a.b.c.d is none.
			addrs, err = resolver.ForIPv4Client(ctx, h.opt.Resolver, n, addrs)
		}
		if err != nil {
			if classify(err) != fail {
				sawErr = err
			}
			continue
		}
		for _, a := range addrs {
			if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
				return pass, ""
			}
		}
	}
	if sawErr != nil {
		return classify(sawErr), sawErr.Error()
	}
	return fail, "PTR " + strings.Join(names, " ") + " does not resolve back"
}

// classify: a denial fails the check, the resolver's recovered panic is
// umbra's defect (crashed, TestHELOResolverPanicCountedPanicked),
// anything else is a DNS error.
func classify(err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound && !de.IsTemporary:
		return fail
	case errors.Is(err, resolver.ErrPanicked):
		return crashed
	}
	return errored
}

// ValidHELO reports whether name is what RFC 5321 §4.1.1.1 allows after
// HELO/EHLO: a host name (letters, digits, hyphens and, tolerated for
// hosts that name themselves so, underscores; not all-numeric at the end,
// which would be an address without its brackets) or an address literal
// ([192.0.2.1], [IPv6:2001:db8::1]).
func ValidHELO(name string) bool {
	if strings.HasPrefix(name, "[") {
		_, err := mailaddr.ParseLiteral(name) // the one reader of a literal, RCPT's too
		return err == nil
	}
	s := strings.TrimSuffix(name, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// printable is a client-given name as it may appear in a reply or a log
// line: printable ASCII, at most 100 characters.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 100; i++ {
		if c := s[i]; c > 0x20 && c < 0x7f && c != '<' && c != '>' {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
