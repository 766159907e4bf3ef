package smtp

import (
	"context"
	"sync"
	"time"
)

// An account of the directory (auth.ldap) is judged like one of the
// credentials file: at AUTH, and again at each MAIL and RCPT of the
// session (accountValid). The file is in memory; the directory is
// asked, so its verdicts are kept (standingCache):
//
//   - a verdict is used for standingTTL; then the next command of any
//     session of that account asks the directory again (Account): an
//     account removed, or disabled so that account_filter no longer
//     matches it, or whose server flag changed, loses the session's
//     authentication within standingTTL, as a file account does at once
//     (530 5.7.0 at the first MAIL or RCPT the rights left refuse;
//     authreload.go: tellLoginLost);
//   - a directory that cannot answer (down, timing out) revokes nobody:
//     the last verdict holds (a successful AUTH is one) and is asked
//     again after standingTTL, logged at WARN; an account is never
//     let in by an outage either — AUTH itself still needs the
//     directory;
//   - the cache holds at most standingMax accounts; one evicted is asked
//     at its next use, and during an outage holds by its session's AUTH.

// AccountStanding is an AccountSource that can say whether an account
// that authenticated earlier still is one: found false when the source
// no longer has it (removed, disabled), server its transport server
// flag now; an error when it could not say.
type AccountStanding interface {
	// Account: name as it was given at AUTH, user the identity the
	// source returned for it.
	Account(ctx context.Context, name, user string) (found, server bool, err error)
}

const (
	// standingTTL is how long a directory's verdict on an account is
	// used before it is asked again.
	standingTTL = time.Minute
	// standingMax bounds the accounts whose verdicts are kept.
	standingMax = 4096
)

type standingVerdict struct {
	found, server bool
	at            time.Time // when the directory said it (or the AUTH was made)
}

// standingCache is the directory's verdicts by account, shared by every
// session of the server.
type standingCache struct {
	mu sync.Mutex
	m  map[string]standingVerdict
}

func (c *standingCache) get(user string) (standingVerdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[user]
	return v, ok
}

func (c *standingCache) put(user string, v standingVerdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]standingVerdict)
	}
	if _, ok := c.m[user]; !ok && len(c.m) >= standingMax {
		for k, old := range c.m { // the expired first
			if v.at.Sub(old.at) >= standingTTL {
				delete(c.m, k)
			}
		}
		for k := range c.m { // then any one
			if len(c.m) < standingMax {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[user] = v
}

// directoryStanding reports whether the session's directory account
// (authDirectory) still stands, with the server flag it had at AUTH:
// from the cache while its verdict is fresh, else from the directory;
// an outage keeps the last verdict (see above).
func (s *session) directoryStanding(src AccountSource) bool {
	ask, ok := src.(AccountStanding)
	if !ok || !s.authDirectory {
		return true
	}
	now := s.srv.clk.Now()
	v, known := s.srv.standing.get(s.user)
	if !known {
		v = standingVerdict{found: true, server: s.authDirServer, at: now} // its AUTH: the verdict an outage keeps
	}
	if !known || now.Sub(v.at) >= standingTTL {
		found, server, err := ask.Account(s.srv.ctx, s.authName, s.user)
		if err != nil {
			s.log.Warn("account directory unavailable: the session's account is judged by its last verdict", "err", err)
			v.at = now // asked again after standingTTL, not at every command
		} else {
			v = standingVerdict{found: found, server: server, at: now}
		}
		s.srv.standing.put(s.user, v)
	}
	return v.found && v.server == s.authDirServer
}
