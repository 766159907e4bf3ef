package queue

import (
	"bytes"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/mailaddr"
)

// CanonicalRedirect is the one form of a redirect target HOST[:PORT]
// (rt18e-F2): an IPv6 address in brackets, in its shortest form (`::1`,
// `[::1]` and `[0:0::1]` are `[::1]`), a host name case-folded, the
// port only when one was given. The queue a redirect moves mail to is
// "redirect:" and this form, whichever form the operator typed, so a
// suspension of either form holds it. A target that does not parse is
// returned as it is (the API refuses it before).
func CanonicalRedirect(target string) string {
	return mailaddr.CanonicalHostPort(target)
}

// CanonicalQueueName is name with a redirect queue's target in its one
// form (CanonicalRedirect), a shadow queue's primary folded
// (foldQueueName); other names are returned as they are. The
// admin API reads every queue name an operator gives through it (a
// queue action, a message list's filter), once; the queue stores and
// compares names in that form only, and a database holding names an
// earlier release stored as typed has them rewritten at open
// (rewriteRedirectNames).
func CanonicalQueueName(name string) string {
	if target, ok := strings.CutPrefix(name, "redirect:"); ok {
		return "redirect:" + CanonicalRedirect(target)
	}
	return foldQueueName(name) // a shadow queue's primary (primaryfold.go)
}

// onHeldRedirectWalk is called when an open reads the poison and
// quarantined records for their redirect names (a test's counter).
var onHeldRedirectWalk = func() {}

// rewriteRedirectNames rewrites, in the commit that opens the database,
// every redirect queue name an earlier release stored as typed
// (`redirect:MX.Example`, `redirect:[0:0::1]:25`, `redirect:h:025`) to
// its one form: the queue index entries, the queue of the pending
// recipients of each record they index or the poison and quarantine
// queues hold (indexed there only, QueuesOf), and the suspension marks.
// The index's "redirect:" entries and the marks are read at every open
// (their keys only: a record is read only when its name changes), the
// "poison" and "quarantine" entries once — the open that reads them
// marks it done in its commit (meta redirect_names_done) —, not every
// record: only pending recipients are indexed, and only they are in a
// queue. It is one transaction with the rest of the open (a crash
// leaves the names all old or all rewritten, and the mark unset: the
// next open does it all again) and finds nothing to do in a database
// already rewritten (a name in its one form is its own form). A record
// that does not decode is left as it is (damaged.go).
func rewriteRedirectNames(btx *bolt.Tx) error {
	prefix := []byte("redirect:")
	qidx, msgs := btx.Bucket(bucketQueues), btx.Bucket(bucketMessages)
	type move struct{ from, to, v []byte }
	var moves []move
	var ids []ID
	walkQueueIndex(qidx, prefix, prefix, func(name string, id ID, _ State, _ bool) bool {
		if cn := CanonicalQueueName(name); cn != name {
			k := queueKey(name, id)
			moves = append(moves, move{k, queueKey(cn, id), bytes.Clone(qidx.Get(k))})
			ids = append(ids, id)
		}
		return true
	})
	// A poison or quarantined record is indexed under that queue only
	// (QueuesOf), whatever its recipients' queues: read too, so that
	// it is in the redirect's one queue when it is resumed or released.
	// Decoding each of them is done once: the open that does it marks
	// it done in its own commit (meta redirect_names_done), and later
	// opens skip it. Held records are made by this release from then on,
	// with names in their one form.
	if meta := btx.Bucket(bucketMeta); meta.Get(keyRedirectNamesDone) == nil {
		onHeldRedirectWalk()
		for _, held := range []string{QueuePoison, QueueQuarantine} {
			hp := []byte(held + "\x00")
			walkQueueIndex(qidx, hp, hp, func(_ string, id ID, _ State, _ bool) bool {
				ids = append(ids, id)
				return true
			})
		}
		if err := meta.Put(keyRedirectNamesDone, []byte{1}); err != nil {
			return err
		}
	}
	for _, mv := range moves {
		if err := qidx.Delete(mv.from); err != nil {
			return err
		}
		if err := qidx.Put(mv.to, mv.v); err != nil {
			return err
		}
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		v := msgs.Get(id.Key())
		if v == nil {
			continue
		}
		m, err := decodeMessage(v)
		if err != nil {
			continue
		}
		changed := false
		for i := range m.Rcpts {
			if r := &m.Rcpts[i]; strings.HasPrefix(r.Queue, "redirect:") {
				if cn := CanonicalQueueName(r.Queue); cn != r.Queue {
					r.Queue, changed = cn, true
				}
			}
		}
		if changed {
			if err := msgs.Put(id.Key(), m.encode()); err != nil {
				return err
			}
		}
	}
	sus := btx.Bucket(bucketSuspended)
	var marks []string
	c := sus.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if CanonicalQueueName(string(k)) != string(k) {
			marks = append(marks, string(k))
		}
	}
	for _, name := range marks {
		if err := sus.Delete([]byte(name)); err != nil {
			return err
		}
		if err := sus.Put([]byte(CanonicalQueueName(name)), nil); err != nil {
			return err
		}
	}
	return nil
}
