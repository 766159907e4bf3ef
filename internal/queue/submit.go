package queue

import (
	"context"
	"errors"
)

// Submit makes a new message durable and schedules it; it returns once
// the commit holding the message is fsync'd. m.ID must come from
// Store.NewID. When the active set has room the message is committed
// already Active and handed to delivery without a second commit.
func (q *Manager) Submit(ctx context.Context, m *Message, body []byte) error {
	_, _, err := q.submit(ctx, m, MemBody(body), "")
	return err
}

// SubmitBody is Submit for a body that may be spooled (body.go): the
// message's record names the spool file (spoolref.go), which Finish made
// durable before this commit; the file is never read here. When the
// commit fails the file is no record's: the caller removes it
// (SpoolFile.Abort), or the sweep at the next Open does. When the commit
// stores nothing (a copy merged into a queued original, a keyed
// submission seen before), the file is removed here after it.
func (q *Manager) SubmitBody(ctx context.Context, m *Message, body Body) error {
	_, _, err := q.submit(ctx, m, body, "")
	return err
}

// SubmitKeyed is Submit for a source that may offer one submission
// twice, such as a pickup file whose marking a crash interrupted: key
// names the submission, and is stored with the message in the same
// commit (bucket submitkeys, kept for message_expiration). When key was
// submitted before, nothing is queued and the earlier message's id is
// returned with again set; the earlier message may have left the queue
// by then. A different key is a different message, whatever its content.
func (q *Manager) SubmitKeyed(ctx context.Context, m *Message, body []byte, key string) (prev ID, again bool, err error) {
	return q.submit(ctx, m, MemBody(body), key)
}

// SubmitKeyedBody is SubmitKeyed for a body that may be spooled, with
// SubmitBody's rules for the spool file: committed, the record names
// it; a key seen before stores nothing and the file is removed here;
// a failed commit leaves it to the caller (SpoolFile.Abort).
func (q *Manager) SubmitKeyedBody(ctx context.Context, m *Message, body Body, key string) (prev ID, again bool, err error) {
	return q.submit(ctx, m, body, key)
}

func (q *Manager) submit(ctx context.Context, m *Message, body Body, key string) (prev ID, again bool, err error) {
	if len(m.Rcpts) == 0 {
		return 0, false, ErrNoRecipients // before the merge, which would take it for one fully merged
	}
	now := q.clk.Now()
	m.settleArrival(now, q.policy().MessageExpiration) // the organisation's arrival, bounded (record.go)
	m.Size = body.Len()
	quarantined := quarantineOnSubmit(m) // quarantine.go: never scheduled
	if quarantined {
		if err := q.quarantineRoom(); err != nil { // quarcap.go: before anything is stored
			return 0, false, err
		}
	}
	active := !quarantined && !q.draining.Load() && q.reserve() // the stop began: stored, due at the next start
	unsettle := func() {}
	switch {
	case quarantined: // state set by quarantineOnSubmit
	case active:
		m.State = Active
		// Settling before the commit that stores it Active, as a claim
		// (activeset.go, settling.go); start finds the mark.
		unsettle = q.settling.begin(m.ID)
	default:
		m.State, m.NextAttempt = Ready, now
	}
	// Quarantined on receipt with no copy: its release marks it held by
	// this server only (hold.go); stored, since the release may follow a
	// restart.
	m.CopyOnRelease = quarantined && m.NoCopy && m.ShadowServer == ""
	all := m.Rcpts
	var merged []mergedRcpt
	stored := true
	var settled []*Message      // copies the quarantine absorbed (quarantine.go)
	var doneHere []Recipient    // recipients finished here already (finished.go)
	var mergedCopies []*Message // copies on receipt the relayed original settled (nexthopcopy.go)
	unnamed := false            // a spooled body this commit leaves without a reference
	defer func() {
		if err != nil || again || !stored {
			unsettle() // never started
		}
	}()
	err = q.store.Update(ctx, func(tx *Tx) error {
		m.Rcpts, merged, stored, again, settled, doneHere, mergedCopies = all, nil, true, false, nil, nil, nil
		defer func() { unnamed = body.Spooled() && !stored && tx.SpoolRefs(body) == 0 }()
		if key != "" {
			if id, ok := tx.SubmitKey(key); ok {
				prev, again, stored = id, true, false
				return nil
			}
			if err := tx.PutSubmitKey(key, m.ID, now); err != nil {
				return err
			}
			if m.Connector == pickupConnector && m.Helo != "" {
				// The file the key names: the key outlives
				// message_expiration while the file lingers (pickupkeys.go).
				if err := tx.putSubmitName(key, m.Helo); err != nil {
					return err
				}
			}
		}
		keep, mr, discardNow := mergeHeld(tx, m, body)
		if len(mr) > 0 {
			m.Rcpts, merged = keep, mr
		}
		for _, r := range mr {
			if r.carry { // the original carries the sender's copy (carried.go)
				if err := tx.carryCopy(r.into, m.ShadowServer, m.ShadowID, r.intoAddr, r.rcpt.Addr); err != nil {
					return err
				}
			} else if err := tx.noteMergedRcpt(r.into, r.intoAddr); err != nil {
				// Taken in all the same: no note settles it (carried.go).
				return err
			}
		}
		// A copy that may repeat another server's lost mailbox write
		// (MayRepeat) merged into an original: the original delivers
		// for it and keeps what it finds, as the copy would have
		// (markMayRepeat).
		if m.MayRepeat {
			if err := tx.markMayRepeat(mr); err != nil {
				return err
			}
		}
		// Recipients this server finished already, of a copy coming
		// back after a takeover (finished.go): dropped, never queued
		// again.
		m.Rcpts, doneHere = tx.dropFinished(m)
		if len(m.Rcpts) == 0 {
			stored = false
			if discardNow || len(doneHere) > 0 && len(mr) == 0 {
				_, err := tx.addCopyDiscard(m, now)
				return err
			}
			return tx.partialForDone(m, doneHere, now)
		}
		if quarantined && m.ShadowServer != "" && m.ShadowID != "" {
			// Its shadow copy must never be taken over and delivered
			// (quarantine.go): the discard goes in this commit.
			// Another record here still needing the copy
			// (siblingcopy.go) keeps it, and this record's recipients
			// are settled in it (a partial discard), as an operator's
			// hold of a part settles them (settleHeldPart): its
			// release makes their copy again (CopyOnRelease).
			wrote, err := tx.addCopyDiscard(m, now)
			if err != nil {
				return err
			}
			if !wrote {
				part, err := tx.settleHeldPart(m, now)
				if err != nil {
					return err
				}
				m.CopyOnRelease = m.CopyOnRelease || part
			}
		}
		if quarantined {
			// The bound's exact check, in the commit that stores it
			// (quarcap.go): concurrent sessions cannot overshoot it.
			if err := q.roomInTx(tx, m.Size); err != nil {
				return err
			}
			var err error
			if settled, err = settleCopiesForQuarantine(tx, m); err != nil {
				return err
			}
		}
		if !quarantined {
			// A discard written by an earlier record under the same
			// shadow id and not fetched yet would settle this one's
			// copy too (siblingcopy.go).
			if err := tx.withdrawUnfetchedDiscard(m); err != nil {
				return err
			}
		}
		if err := tx.partialForDone(m, doneHere, now); err != nil {
			return err
		}
		if err := tx.PutNewBody(m, body); err != nil { // spoolref.go: whole, or naming its spool file
			return err
		}
		if !quarantined { // relayed here: the sender's copy on receipt here merges (nexthopcopy.go)
			var err error
			if mergedCopies, err = tx.mergeReceiptCopy(m, now); err != nil {
				return err
			}
		}
		if m.PushOnReceipt && m.ShadowServer != "" {
			// The push follows this commit (pushcrash.go).
			if err := tx.tx.Bucket(bucketPushing).Put(m.ID.Key(), []byte(m.ShadowServer)); err != nil {
				return err
			}
		}
		if (m.NoCopy || m.EntersAlone) && !quarantined && m.ShadowServer == "" {
			// No shadow server took its copy on receipt, or none could
			// (a pickup file, a report written here): held by this
			// server only from this commit on (enteredsingle.go), never
			// on one disk unnamed (rt27 F2).
			_, err := tx.MarkEnteredSingle(m, now)
			return err
		}
		return nil
	})
	if err != nil {
		m.Rcpts = all
		if errors.Is(err, ErrQuarantineFull) {
			q.quarantineFull()
		}
		if active {
			q.release()
		}
		return 0, false, err
	}
	if unnamed { // after the commit: no record names it
		path, _, _ := body.File()
		removeSpool(path)
	}
	if again {
		if active {
			q.release()
		}
		q.log.Info("submission seen before; not queued again", "msg_id", prev.String())
		return prev, true, nil
	}
	q.ev.Event("receive", m, nil, receiveNote(m))
	if !quarantined {
		q.noteSubmitted(now)
	}
	for _, mr := range merged {
		rc := mr.rcpt
		rc.Queue = QueueMerged
		q.ev.Event("duplicate-suppressed", m, &rc, "merged into queued message "+mr.into.String()+" of the same org id")
		q.log.Info("resubmitted copy merged into the queued original", "msg_id", m.ID.String(), "org_id", m.OrgID,
			"into", mr.into.String(), "rcpt", rc.Addr)
	}
	for _, r := range doneHere {
		rc := r
		rc.Queue = QueueMerged
		q.ev.Event("duplicate-suppressed", m, &rc, "done here already: a copy of a message of the same org id this server finished")
		q.log.Info("copy of a message finished here: recipient done already, not delivered again", "msg_id", m.ID.String(),
			"org_id", m.OrgID, "rcpt", rc.Addr, "shadow_server", m.ShadowServer)
	}
	if !stored {
		if active {
			q.release()
		}
		q.notifyGone(m.ID)
		return m.ID, false, nil
	}
	for _, o := range settled {
		q.ev.Event("discard", o, nil, "shadow copy merged into quarantined message "+m.ID.String())
		q.notifyGone(o.ID)
	}
	for _, o := range mergedCopies {
		q.ev.Event("discard", o, nil, "shadow copy on receipt merged into the original relayed here "+m.ID.String())
		q.notifyGone(o.ID)
	}
	if quarantined {
		q.noteQuarantine(now)
		q.log.Info("message quarantined", "msg_id", m.ID.String(), "reason", m.Quarantine)
		q.ev.Event("quarantine", m, nil, m.Quarantine) // the commit's discard of its copy woke the server's long poll (owedsignal.go)
		return m.ID, false, nil
	}
	if active {
		q.dispatch(ctx, m, body)
	} else {
		q.Kick()
	}
	return m.ID, false, nil
}

// receiveNote is the reply of a message's "receive" event: the shadow
// server its commit named as keeping its copy, so that a search of the
// tracking log by org id tells where the copy is expected — a copy
// left held on a shadow server is matched to the record that named
// that server, or shown named elsewhere.
func receiveNote(m *Message) string {
	if m.ShadowServer == "" {
		return ""
	}
	return "shadow copy held by " + m.ShadowServer
}
