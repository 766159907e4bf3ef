package delivery

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"umbra/internal/config"
	"umbra/internal/smtp"
)

// watchWait is how long one XQUERYDISCARD WAIT= may be held by the
// primary; watchPollEvery the pace of queries on a watch session to a
// primary of the previous release (no WAIT=): queries, not connections;
// watchPollIdle the slowest pace, reached while queries find nothing.
const (
	watchWait      = 5 * time.Second
	watchPollEvery = 10 * time.Millisecond
	watchPollIdle  = 250 * time.Millisecond
)

// watchPollPause is the pause before the next query to a primary of the
// previous release after empty queries in a row that found nothing:
// watchPollEvery after one, doubled with each further one up to
// watchPollIdle. A watch session stays open for as long as copies are
// held for the primary (shadow doc.go, rt39 F1), hours while it retries
// a destination that is down: at watchPollEvery throughout that was a
// hundred queries a second per primary. A discard found makes the pace
// quick again (empty 0), so a burst of the primary's commits is
// followed at once; a discard after a quiet spell comes up to
// watchPollIdle late, a sender waiting on it no more.
func watchPollPause(empty int) time.Duration {
	p := watchPollEvery
	for i := 1; i < empty && p < watchPollIdle; i++ {
		p *= 2
	}
	return min(p, watchPollIdle)
}

// Watch implements shadow.Watcher: one shadow session to a primary,
// kept open while more() holds, on which the primary pushes discard
// notifications as they commit (version 2) or is asked every few
// milliseconds, slower while nothing is found (version 1,
// watchPollPause). The session ends with a last query and QUIT.
//
// Every batch is saved (committed here) before the next command goes
// out: the next WAIT= is the primary's proof that this server has the
// batch, and it forgets the batch then (SR-15). A next query sent while
// the commit was still running lost the batch when this server was
// killed in between: the primary had forgotten it, the copies it named
// stayed here until they expired and were taken over.
func (d *Deliverer) Watch(ctx context.Context, primary, addr string, save func(dbID string, mark uint64, discards []string, contact bool) error, more func() bool) (err error) {
	defer d.recoverErr(PanicShadow, &err, "primary", primary) // panics.go
	c, db, end, err := d.openPrimarySession(ctx, primary, addr, save)
	if err != nil {
		return err
	}
	defer end()
	lastContact := time.Now()
	empty := 0 // queries in a row that found nothing
	for more() {
		var ids []string
		if c.ShadowVersion >= 2 {
			ids, err = c.WaitDiscard(1000, watchWait)
		} else {
			ids, err = c.QueryDiscard(1000)
		}
		if err != nil {
			return err
		}
		if len(ids) > 0 || time.Since(lastContact) >= time.Second {
			if err := save(db, c.DiscardMark, ids, true); err != nil {
				return err // closed by the defer: no next command
			}
			lastContact = time.Now()
		}
		if len(ids) > 0 {
			empty = 0
		} else {
			empty++
		}
		if len(ids) == 0 && c.ShadowVersion < 2 {
			t := time.NewTimer(watchPollPause(empty))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	ids, err := c.QueryDiscard(1000) // the end of the session (SR-3)
	if err != nil {
		return err
	}
	if err := save(db, c.DiscardMark, ids, true); err != nil {
		return err
	}
	quit(ctx, c) // the batches are saved: an unanswered QUIT loses none
	return nil
}

// dialPrimary opens a session to another transport server — a primary
// (heartbeat, watch session, reconcile) or a peer a copy on receipt is
// pushed to — as every session this server opens to one: through the
// send connector named in addr ("host:port via CONNECTOR", the one the
// copies went by) when this server has one of that name (sessionVia),
// else through the send connector that logs in to that
// server (loginVia), else inside the organisation with opportunistic TLS
// and this server's client certificate. A peer whose receive connector
// grants the shadow verbs to server accounts only refuses a session that
// did not log in.
func (d *Deliverer) dialPrimary(ctx context.Context, st *state, primary, addr string) (*smtp.Client, error) {
	return d.dialPrimaryTLS(ctx, st, primary, addr, false)
}

// dialPrimaryTLS is dialPrimary; verify raises the session's TLS to
// verified for the server's name (the connector's as org.go raises it
// for a REQUIRETLS relay), for a REQUIRETLS copy on receipt.
func (d *Deliverer) dialPrimaryTLS(ctx context.Context, st *state, primary, addr string, verify bool) (*smtp.Client, error) {
	addr, via := sessionVia(st, primary, addr)
	if via != "" {
		sc := st.conns[via]
		if verify && sc.cfg.TLS != config.TLSVerify {
			cp := *sc
			cp.cfg.TLS = config.TLSVerify
			sc = &cp
		}
		c, err := d.connect(ctx, st, sc, host{name: primary, addr: addr})
		if err == nil {
			watchMarks(st, c, primary)
			d.presentTo(st, c, primary)
		} else if f := st.sourceLost(sc); f != nil {
			return nil, f // this server's fault: nothing of the peer's (sourceFault)
		}
		return c, err
	}
	nc, err := st.dial(ctx, nil, "tcp", addr)
	if err != nil {
		if f := st.sourceLost(nil); f != nil {
			return nil, f
		}
		return nil, err
	}
	policy := smtp.TLSOpportunistic
	if verify {
		policy = smtp.TLSVerify
	}
	// The configured timeouts, as through a connector (connect): a copy
	// pushed on this session waits data_timeout for its reply, not
	// go-smtp's default of 12 minutes.
	c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: primary, TLS: policy,
		RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout})
	if err == nil {
		watchMarks(st, c, primary)
		d.presentTo(st, c, primary)
	}
	return c, err
}

// sessionVia splits addr ("host:port via CONNECTOR" as the copies were
// recorded) into the address and the send connector a session to the
// transport server primary goes through: the one named, when this
// server has a send connector of that name, else loginVia's ("" for the
// organisation's own way). A name this server has no connector of — a
// connector of the topology only, which routed the mail from another
// server (a redirect's route), or one a reload removed or renamed since
// the copies were recorded — is no reason to lose the primary: every
// session to it failed here before any connection ("send connector out
// is gone"), its discards were never fetched, and its failed heartbeats
// took over the copies of a live primary, delivered a second time
// (rt45 redirect). The server is reached the way it is reached
// otherwise.
func sessionVia(st *state, primary, addr string) (string, string) {
	addr, via, _ := strings.Cut(addr, " via ")
	if via != "" && st.conns[via] != nil {
		return addr, via
	}
	return addr, loginVia(st, primary, addr)
}

// loginVia names the send connector a session to the transport server
// name at addr goes through when no connector is named for it: one that
// logs in (auth) to a smart host that is that server — its address, or
// its name or its address's host on the same port (a smart host without
// a port has the connector's) — so that a server whose receive connector
// accepts XSHADOW only from a server account gets the connector's login.
// A connector whose smart host is the server's address exactly wins over
// one that names it otherwise; among equals the first by name, so the
// choice is stable. A connector to another service of the same host (an
// other port) is never used: its login is not this server's. It is the
// one rule for every session to another transport server: pushes of
// copies on receipt, relays to a hub of another site, and heartbeats,
// watch sessions and reconciliation to a primary, whichever way its
// copies came. "" (no such connector): the organisation's own way,
// opportunistic TLS with this server's client certificate.
func loginVia(st *state, name, addr string) string {
	names := make([]string, 0, len(st.conns))
	for n := range st.conns {
		names = append(names, n)
	}
	sort.Strings(names)
	best, rank := "", 0
	for _, n := range names {
		sc := st.conns[n]
		if sc.cfg.Auth.Username == "" {
			continue
		}
		for _, sh := range sc.cfg.SmartHosts {
			if r := config.SmartHostNames(sh, sc.cfg.Port, name, addr); r > rank {
				best, rank = n, r
			}
		}
	}
	return best
}

// Reconcile implements shadow.Reconciler: a shadow session to a primary
// that asks which of the copies ids it is done with (XQUERYHELD, shadow
// verbs version 4) and saves them as discards. The XSHADOW reply's
// database id is saved first, so that a primary with a new database has
// the copies taken over instead. A primary of an older release is asked
// nothing.
func (d *Deliverer) Reconcile(ctx context.Context, primary, addr string, ids []string, save func(dbID string, mark uint64, discards []string, contact bool) error) (err error) {
	defer d.recoverErr(PanicShadow, &err, "primary", primary) // panics.go
	c, db, end, err := d.openPrimarySession(ctx, primary, addr, save)
	if err != nil {
		return err
	}
	defer end()
	done, err := c.QueryHeld(ids)
	if len(done) > 0 {
		if serr := save(db, 0, done, false); serr != nil { // an answer to XQUERYHELD presents no mark
			return serr
		}
	}
	if err != nil {
		return err
	}
	quit(ctx, c) // the answers are saved: an unanswered QUIT loses none
	return nil
}

// openPrimarySession opens a shadow session to primary for Watch and
// Reconcile: the connection closes when ctx ends, and the XSHADOW
// reply's database id is saved before anything else, so that a primary
// with a new database has its copies taken over rather than discarded.
// end closes the session and forgets ctx (which outlives it).
func (d *Deliverer) openPrimarySession(ctx context.Context, primary, addr string, save func(dbID string, mark uint64, discards []string, contact bool) error) (c *smtp.Client, db string, end func(), err error) {
	st := d.st.Load()
	if c, err = d.dialPrimary(ctx, st, primary, addr); err != nil {
		return nil, "", nil, refusal(err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	end = func() { stop(); c.Close() }
	if db, err = askShadow(c, watchID(st)); err == nil {
		err = save(db, 0, nil, false)
		// A contact refused here for another server's database id marks
		// the primary refused:NAME, and one let in clears it, as a
		// heartbeat's or relay's does: the shadow view's refusal (the
		// recorder's) and the destination mark tell one story (rt28e F3).
		var other interface{ AnotherServersDatabase() bool }
		switch {
		case errors.As(err, &other):
			d.health.Unresponsive(time.Now(), "contact refused here: "+err.Error(), refusedKey(healthName(d.st.Load(), primary)))
		case err == nil && db != "":
			d.health.Responsive(refusedKey(healthName(d.st.Load(), primary)))
			noteDigest(st, primary, db, c)
		}
	}
	if err != nil {
		err = refusalIn(err, c)
		end()
		return nil, "", nil, err
	}
	return c, db, end, nil
}

// watchMarks makes c hand the rollback marks primary presents to the
// shadow recorder (MarkRecorder), when there is one.
func watchMarks(st *state, c *smtp.Client, primary string) {
	if mr, ok := st.cfg.Shadows.(MarkRecorder); ok {
		c.MarkFloor = func() (uint64, string) { return mr.MarkFloor(primary) }
		c.OnMark = func(dbID string, mark, floor uint64, floorDB string) {
			mr.MarkSeen(primary, dbID, mark, floor, floorDB)
		}
	}
}
