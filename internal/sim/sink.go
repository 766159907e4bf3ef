package sim

import (
	"bufio"
	"io"
	stdlog "log"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Sink is a mail store outside umbra: a mailbox server's LMTP (one
// delivery per recipient and message is what it holds) or a destination
// outside the organisation over SMTP. It records what arrived; it refuses
// recipients whose local part starts with "refuse".
type Sink struct {
	Name string
	mu   sync.Mutex
	// Got counts deliveries by "simid rcpt".
	Got map[string]int
	log []delivered // in arrival order
	// dupes is the mailbox side's duplicate database (Dovecot's Sieve
	// "duplicate" rule on X-Umbra-Org-Id, as deploy/dovecot ships it):
	// "orgid rcpt" already stored. Suppressed counts the copies it
	// dropped.
	dupes      map[string]bool
	Suppressed int
	lmtp       bool
	// DSNs are the delivery status notifications that arrived.
	DSNs []DSN
	gs   *gosmtp.Server
}

// DSN is a non-delivery report as the checker reads it.
type DSN struct {
	SimID  string
	Rcpts  []string // Final-Recipient of failed recipients
	Status []string
	// Other are the actions other than failed and delayed: nothing the
	// senders (no NOTIFY) asked for.
	Other []string
	Body  string
}

var (
	reSimID  = regexp.MustCompile(`(?mi)^X-Sim-Id:\s*(\S+)`)
	reOrgID  = regexp.MustCompile(`(?mi)^X-Umbra-Org-Id:\s*(\S+)`)
	reFinal  = regexp.MustCompile(`(?mi)^Final-Recipient:\s*rfc822;\s*(\S+)`)
	reAction = regexp.MustCompile(`(?mi)^Action:\s*(\S+)`)
	reStatus = regexp.MustCompile(`(?mi)^Status:\s*(\S+)`)
)

// NewSink serves on ln until Close.
func NewSink(name string, ln net.Listener, lmtp bool) *Sink {
	s := &Sink{Name: name, Got: map[string]int{}, dupes: map[string]bool{}, lmtp: lmtp}
	gs := gosmtp.NewServer(backend{s})
	gs.Domain, gs.LMTP = name, lmtp
	gs.AllowInsecureAuth = true
	gs.ErrorLog = stdlog.New(io.Discard, "", 0)
	s.gs = gs
	go gs.Serve(ln)
	return s
}

func (s *Sink) Close() { s.gs.Close() }

func (s *Sink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Got[key]
}

type delivered struct {
	key, dupe string
	at        time.Time
}

// FailOver makes the store lose every delivery since t, as a mailbox
// database that fails over to a copy lagging behind; it returns how many
// it lost.
func (s *Sink) FailOver(since time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep, lost := s.log[:0], 0
	for _, d := range s.log {
		if d.at.Before(since) {
			keep = append(keep, d)
			continue
		}
		s.Got[d.key]--
		delete(s.dupes, d.dupe)
		lost++
	}
	s.log = keep
	return lost
}

type backend struct{ s *Sink }

func (b backend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: b.s}, nil }

type sinkSession struct {
	s     *Sink
	from  string
	rcpts []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	local, _, _ := strings.Cut(to, "@")
	if strings.HasPrefix(local, "refuse") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	ss.rcpts = append(ss.rcpts, strings.ToLower(to))
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return err
	}
	text := string(body)
	id := ""
	if m := reSimID.FindStringSubmatch(text); m != nil {
		id = m[1]
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.from == "" && strings.Contains(text, "message/delivery-status") {
		d := DSN{SimID: id, Body: text}
		finals, actions, status := reFinal.FindAllStringSubmatch(text, -1), reAction.FindAllStringSubmatch(text, -1),
			reStatus.FindAllStringSubmatch(text, -1)
		for i, f := range finals {
			if i < len(actions) && !strings.EqualFold(actions[i][1], "failed") && !strings.EqualFold(actions[i][1], "delayed") {
				d.Other = append(d.Other, actions[i][1]+" "+f[1])
			}
			if i < len(actions) && strings.EqualFold(actions[i][1], "failed") {
				d.Rcpts = append(d.Rcpts, strings.ToLower(f[1]))
				if i < len(status) {
					d.Status = append(d.Status, status[i][1])
				} else {
					d.Status = append(d.Status, "")
				}
			}
		}
		ss.s.DSNs = append(ss.s.DSNs, d)
		return nil
	}
	org := ""
	if m := reOrgID.FindStringSubmatch(text); m != nil {
		org = m[1]
	}
	for _, r := range ss.rcpts {
		dupe := org + " " + r
		if ss.s.lmtp && org != "" && ss.s.dupes[dupe] {
			ss.s.Suppressed++
			continue
		}
		ss.s.dupes[dupe] = true
		ss.s.Got[id+" "+r]++
		ss.s.log = append(ss.s.log, delivered{id + " " + r, dupe, time.Now()})
	}
	return nil
}
