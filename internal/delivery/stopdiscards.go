package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// OwedDiscards is the queue's record of the discard notifications this
// server owes the shadow servers of its messages (queue.Manager).
type OwedDiscards interface {
	OwedDiscardServers() ([]string, error)
	// DiscardsPartial lists up to max notifications owed to server, full
	// and partial, as XQUERYDISCARD hands them; ack forgets them.
	DiscardsPartial(server string, max int) ([]string, func())
}

// MarkedOwedDiscards is OwedDiscards that lists the notifications owed
// to a shadow server with the rollback mark presented to it read in the
// same read transaction (queue.Manager, markedlisting.go): a push
// presents that mark again before XDISCARD when it is above the one its
// session's XSHADOW presented (handDiscards).
type MarkedOwedDiscards interface {
	// DiscardsPartialMarkedFor is DiscardsPartial (with delayed,
	// DiscardsPartialDelayed) with the mark to present to server name
	// whose peer advertised digest.
	DiscardsPartialMarkedFor(name, digest string, max int, delayed bool) ([]string, uint64, func())
}

// DelayedOwedDiscards is OwedDiscards that also hands over the delay
// notes (queue.Manager): a stop pushes them to a shadow server of
// version 19 with the partial discards, so that it sends no second
// delay DSN after taking the copy over.
type DelayedOwedDiscards interface {
	// DiscardsPartialDelayed is DiscardsPartial with the delay notes
	// ("<id> DELAYED") among the partial notifications.
	DiscardsPartialDelayed(server string, max int) ([]string, func())
}

// StopPushPerServer bounds, at a stop, the hand-over of the discards owed
// to one shadow server (PushOwedDiscards): the servers are pushed to at
// once, so a stop waits at most this long for them.
const StopPushPerServer = 3 * time.Second

// stopPushBatch is how many notifications are read and forgotten at a time.
const stopPushBatch = 100

// PushOwedDiscards hands, at a stop, the discard notifications this
// server owes to each transport server of the topology that keeps
// shadow copies of its messages (XDISCARD, shadow verbs 13), all servers
// at once, each within per. The notifications are in the transport
// database (SR-15) and the shadow servers fetch them at their next query;
// but a server that stops for good never answers that query, and after
// their failed heartbeats they take over — and deliver again — the
// messages it had delivered. So the stop pushes them: each the shadow
// server commits before its 250, and this server forgets a batch once
// every line of it was answered. A server that cannot be reached in
// time, or speaks verbs below 13, keeps them owed here, as before: it
// fetches them when this server runs again, or takes the messages over if
// it does not. A server that is no transport server of the topology now
// (removed by a reload, or listed in another role) is pushed to where
// this server reached it for its copies (formerholders.go: its own
// queries are refused here); one whose address is not known (a send
// connector's host that relayed here) is not contacted: it fetches them
// itself.
func (d *Deliverer) PushOwedDiscards(ctx context.Context, q OwedDiscards, per time.Duration) {
	d.pushOwed(ctx, q, per, true)
}

// pushOwed is PushOwedDiscards; stop says whether the stop pushes
// (its log lines), or the pass of a server whose shadow redundancy is
// off (owedpush.go).
func (d *Deliverer) pushOwed(ctx context.Context, q OwedDiscards, per time.Duration, stop bool) {
	st := d.st.Load()
	if st.cfg.Topology == nil || pushID(st) == "" {
		return
	}
	servers, err := q.OwedDiscardServers()
	if err != nil {
		d.log.Error("listing the discard notifications owed at the stop failed; the shadow servers fetch them when this server runs again", "err", err)
		return
	}
	var wg sync.WaitGroup
	for _, name := range servers {
		s, ok := st.cfg.Topology.Server(name)
		if ok && strings.EqualFold(s.Name, pushID(st)) {
			continue
		}
		pushName, addr := name, ""
		switch {
		case ok && st.cfg.Topology.Transport(name):
			pushName, addr = s.Name, s.Address
		default:
			// No transport server of the topology now (removed, or
			// another role): where its copies were made, when known
			// (formerholders.go); its own queries are refused here.
			addr = d.formerAddr(st, q, name)
		}
		if addr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.recoverLogged(PanicPush, "shadow_server", pushName) // panics.go
			ctx, cancel := context.WithTimeout(ctx, per)
			defer cancel()
			n, err := d.pushDiscards(ctx, st, pushName, addr, q)
			if !stop {
				d.notePushedWhileOff(pushName, n, err)
				return
			}
			switch {
			case errors.Is(err, smtp.ErrNoPush):
				d.log.Info("discard notifications left for the shadow server to fetch: it takes no pushed ones (an earlier release)",
					"shadow_server", pushName)
			case err != nil:
				d.log.Warn("discard notifications not all handed to the shadow server before the stop: it fetches the rest when this server runs again, or takes those messages over if it does not",
					"shadow_server", pushName, "handed", n, "err", err)
			case n > 0:
				d.log.Info("discard notifications handed to the shadow server before the stop", "shadow_server", pushName, "count", n)
			}
		}()
	}
	wg.Wait()
}

// pushDiscards is PushOwedDiscards for one shadow server: a session
// logged in as heartbeats are (dialPrimary), XSHADOW, then XDISCARD for
// the notifications (smtp PushDiscards: up to a hundred a command with a
// server of version 14, one a command with 13), with the delay notes
// among them to a server of version 19 (its copies, taken over, send no
// second delay DSN; an older server fetches them when this server runs
// again, as before). It returns how many the server committed. The
// session ends with its bounded QUIT within ctx (the stop waits for it).
func (d *Deliverer) pushDiscards(ctx context.Context, st *state, name, addr string, q OwedDiscards) (int, error) {
	return d.pushDiscardsEnd(ctx, st, name, addr, q, func(c *smtp.Client) { quit(ctx, c) })
}

// pushDiscardsEnd is pushDiscards with the end of a session still in
// step left to end (its QUIT, here or apart: handMayHoldDiscards ends it
// off the path of the pass and of the receipt before its 250); one out
// of step is closed. Its outcome is judged before the QUIT: a server
// that committed every notification and never answers the QUIT took
// them all — it was reported as one not handed them, and one that hung
// (rrrcpt43).
func (d *Deliverer) pushDiscardsEnd(ctx context.Context, st *state, name, addr string, q OwedDiscards, end func(*smtp.Client)) (int, error) {
	c, err := d.dialPrimary(ctx, st, name, addr)
	if err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	n, inStep, err := d.handDiscards(ctx, st, c, name, q)
	if inStep {
		end(c)
	} else {
		c.Close()
	}
	return n, err
}

// handDiscards is pushDiscardsEnd's exchange over c, up to its end:
// inStep says whether c may still speak (its QUIT).
func (d *Deliverer) handDiscards(ctx context.Context, st *state, c *smtp.Client, name string, q OwedDiscards) (n int, inStep bool, err error) {
	if _, err := c.Shadow(pushID(st)); err != nil {
		return 0, false, err
	}
	if err := d.answeredAsFormer(st, q, name, c.ShadowDB, c.ShadowName); err != nil {
		return 0, true, err
	}
	if c.ShadowVersion < 13 {
		return 0, true, smtp.ErrNoPush
	}
	list := q.DiscardsPartial
	delayed := false
	if dq, ok := q.(DelayedOwedDiscards); ok && c.ShadowVersion >= smtp.PushDelayedVersion {
		list = dq.DiscardsPartialDelayed // and the delay notes (version 19); an older server fetches them
		delayed = true
	}
	mq, marked := q.(MarkedOwedDiscards)
	for range 1000 { // at most 100,000 lines; the deadline ends it sooner
		var lines []string
		var ack func()
		if presented, db, ok := c.PresentedMark(); marked && ok {
			// The holder keeps a discard that comes before its copy
			// under the mark of this session's XSHADOW, read when it
			// opened: a copy committed here since and delivered before
			// this listing is above it, and kept there, when its push
			// comes, as a new copy no discard settles (sr1749). So the
			// mark read with the listing is presented again first when
			// it is higher: the holder places every copy by it.
			var mark uint64
			lines, mark, ack = mq.DiscardsPartialMarkedFor(name, c.PeerDatabaseDigest(), stopPushBatch, delayed)
			if len(lines) > 0 && mark > presented {
				c.PresentMark(mark, db)
				if _, err := c.Shadow(pushID(st)); err != nil {
					return n, false, err // not sent: they stay owed
				}
			}
		} else {
			lines, ack = list(name, stopPushBatch)
		}
		if len(lines) == 0 {
			break
		}
		k, err := c.PushDiscards(lines) // several a command with a server of version 14
		n += k
		if err != nil {
			return n, false, err // this batch stays owed: a line applied twice there is ignored
		}
		ack()
		if len(lines) < stopPushBatch {
			break
		}
	}
	return n, true, ctx.Err()
}

// errNotTheFormerHolder: the server at a former holder's recorded
// address answered with another database than the one recorded for it.
var errNotTheFormerHolder = errors.New("the server at that address is not the one the discards are owed to (another transport database): nothing handed")

// answeredAsFormer checks, for a server the topology no longer lists as
// a transport server (its discards pushed to a recorded address, which
// may serve another server now), that the one answering has the
// transport database recorded for it (queue ShadowHolderID), or states
// the holder's own name (a restore gives the holder a new id while it
// still holds the copies). A discard is for the holder it is owed to
// alone: the same copy id may name a live copy on another server (a copy
// made again under its org id), and such a server states its own name.
func (d *Deliverer) answeredAsFormer(st *state, q any, name, db, stated string) error {
	if st.cfg.Topology != nil && st.cfg.Topology.Transport(name) {
		return nil
	}
	if stated != "" && mailaddr.NameKey(stated) == mailaddr.NameKey(name) {
		return nil // the holder itself, whatever database it has now (a restore gives a new id)
	}
	if !metWith(q, name, db) {
		return errNotTheFormerHolder
	}
	return nil
}
