package queue

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A dumpster redelivery copy that is not delivered (rt39 F4).
//
// A redelivery request moves each copy from the dumpster to the queue,
// in one commit with its removal there (package dumpster). A copy whose
// recipients then fail — refused for good, or expired waiting for a
// delivery slot of a mailbox database still down — made no DSN (the
// sender's message was delivered before: Redelivered) and, before, left
// nothing behind: the mail the request was to bring back was gone for
// good, the dumpster 3,025 copies down to 2,268 after one resubmit. Now
// the commit that fails such recipients keeps a dumpster copy of the
// message for them again (keepBack), in the database the request named,
// kept at that commit's time: a later request over the same window, or
// one since before it, puts them back in the queue again.

// keepBack keeps, in the commit tx that fails them, a dumpster copy for
// the recipients failed of m, a dumpster redelivery copy: in the
// database its request names (the recipient's mailbox queue when the
// request record is gone). It returns what to run after the commit.
func (q *Manager) keepBack(tx *Tx, m *Message, body Body, failed []int, now time.Time) ([]func(), error) {
	if !m.Redelivered() || q.cfg.Dumpster == nil || len(failed) == 0 {
		return nil, nil
	}
	reqDB := ""
	if r, err := tx.Request(redeliveryRequest(m.Scan)); err == nil {
		reqDB = r.Database
	}
	var dbs []string
	per := map[string][]int{}
	for _, i := range failed {
		db := reqDB
		if db == "" {
			db, _ = strings.CutPrefix(m.Rcpts[i].Queue, "mailbox:")
			if db == m.Rcpts[i].Queue {
				db = ""
			}
		}
		if db == "" {
			q.log.Warn("a dumpster redelivery copy not delivered and its database not known: not kept again",
				"msg_id", m.ID.String(), "request_id", redeliveryRequest(m.Scan), "rcpt", m.Rcpts[i].Addr)
			continue
		}
		if per[db] == nil {
			dbs = append(dbs, db)
		}
		per[db] = append(per[db], i)
	}
	var afters []func()
	for _, db := range dbs {
		rcpts := per[db]
		slices.Sort(rcpts)
		after, kept, err := keepAgain(q.cfg.Dumpster, tx, m, body, db, rcpts, now)
		if err != nil {
			return nil, fmt.Errorf("dumpster: %w", err)
		}
		n, id, req := len(rcpts), m.ID.String(), redeliveryRequest(m.Scan)
		afters = append(afters, func() {
			if after != nil {
				after()
			}
			if !kept {
				q.log.Warn("a dumpster redelivery copy was not delivered and not kept again: the dumpster keeps no copy of its size now "+
					"(max_dumpster_size_per_database lowered under it, or 0): its mail is gone",
					"msg_id", id, "request_id", req, "database", db, "recipients", n, "size", body.Len())
				return
			}
			q.log.Info("a dumpster redelivery copy was not delivered: kept in the dumpster again, to be resubmitted again",
				"msg_id", id, "request_id", req, "database", db, "recipients", n)
		})
	}
	return afters, nil
}

// againKeeper is a Keeper that says whether it kept the copy (the
// dumpster's KeepAgain): one turned off, or with a bound now under the
// message's size, keeps none.
type againKeeper interface {
	KeepAgain(tx *Tx, m *Message, body Body, database string, rcpts []int, now time.Time) (after func(), kept bool, err error)
}

// keepAgain keeps rcpts of m in database's dumpster again, reporting
// whether a copy holds them now (a Keeper that cannot say is taken at
// its word).
func keepAgain(k Keeper, tx *Tx, m *Message, body Body, database string, rcpts []int, now time.Time) (func(), bool, error) {
	if ak, ok := k.(againKeeper); ok {
		return ak.KeepAgain(tx, m, body, database, rcpts, now)
	}
	after, err := k.Keep(tx, m, body, database, rcpts, now)
	return after, err == nil, err
}
