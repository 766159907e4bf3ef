package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"umbra/internal/queue"
)

// Batches: the commands that act on many messages (the bulk message
// actions, queue resume, retry, redirect and flush) select their
// messages once, when their first request comes, and keep that
// selection here between their requests, each a batch of the
// messages after the last one's end, oldest first, for as long as the
// request's max_time allows. The first answer names the selection
// (selection=TOKEN) and the newest message in it (through); a later
// request whose selection is gone (the daemon restarted, or it stayed
// unused for selectionIdle) selects again what is left up to through.

// selection is the messages one command acts on, fixed when it began.
type selection struct {
	ids  []queue.ID
	used time.Time
	// so far: what the command's batches did before this one, for its
	// one audit line (auditBatch, auditQueueBatch).
	so far
}

// far is what a command's batches did: messages looked at, done,
// failed, skipped (a bulk message action), or changed (a queue action);
// open while its line is not written, with who asked, the action as
// audited and its queue, and the line's counts so far (counts).
type far struct {
	matched, done, failed, skipped, kept int
	notFound                             int // of the ids a command gave (given=true)
	selected                             int // the messages the command selected (a bulk message action)
	inDelivery                           int // a redirect's messages left in delivery
	open                                 bool
	waiting                              bool // marked so in the command's record (tallyWaiting)
	who, action, queue, counts, key      string
	idle                                 *time.Timer
}

// keepOpen notes the command's tally after a batch with more to come:
// its line is written by its last batch, or, when it asks for none
// (Ctrl-C waits for the batch in flight and stops), once its selection
// is forgotten (auditLeft): at selectionIdle, or at a stop.
func (s *Server) keepOpen(r *http.Request, token string, sel *selection, action, queueName, counts string) {
	if sel == nil {
		return
	}
	sel.so.open, sel.so.who, sel.so.action, sel.so.queue, sel.so.counts, sel.so.key = true, actor(r), action, queueName, counts, token
	// Between its batches: a stop of the daemon now cuts no batch, and
	// the line a start writes from the record says so (auditStopped).
	s.tallyWaiting(sel, s.now())
	if sel.so.idle != nil {
		sel.so.idle.Stop()
	}
	sel.so.idle = time.AfterFunc(selectionIdle+time.Second, func() {
		s.bulkMu.Lock()
		defer s.bulkMu.Unlock()
		if s.selections[token] == sel && time.Since(sel.used) > selectionIdle {
			s.auditLeft(sel)
			delete(s.selections, token)
		}
	})
}

// auditLeft writes the line of a command that asked for no further
// batch, when its selection is forgotten. Called with bulkMu held.
func (s *Server) auditLeft(sel *selection) {
	if !sel.so.open {
		return
	}
	sel.so.open = false
	if sel.so.idle != nil {
		sel.so.idle.Stop()
	}
	s.auditBy(sel.so.who, sel.so.action, nil, sel.so.queue, "cut short, no further batch asked for: "+sel.so.counts+"; the rest is left as it was")
	s.endTally(sel.so.key)
}

// stopSelection is POST /v1/selections/TOKEN/stop: a command run in
// batches asks for no further batch (the CLI's Ctrl-C). Its line is
// written now, `cut short, no further batch asked for: …` with its
// counts, and its record deleted with it, so the fact survives a kill
// of the daemon after it (rt24c F10); a selection forgotten already
// (its line written) is 404.
func (s *Server) stopSelection(w http.ResponseWriter, r *http.Request) {
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	token := r.PathValue("token")
	sel := s.selections[token]
	if sel == nil {
		fail(w, http.StatusNotFound, "no such selection: its command ended, or it was forgotten and its line written")
		return
	}
	open := sel.so.open
	// The stop itself is audited with who sent it (it may not be who
	// began the command), then the command's line.
	s.auditAs(r, "stop "+sel.so.action, nil, sel.so.queue, "no further batch asked for (the command was begun by "+sel.so.who+")")
	s.auditLeft(sel)
	delete(s.selections, token)
	if s.stopped == nil {
		s.stopped = map[string]time.Time{}
	}
	for k, at := range s.stopped {
		if time.Since(at) > stoppedKept {
			delete(s.stopped, k)
		}
	}
	if len(s.stopped) < maxStopped {
		s.stopped[token] = time.Now()
	}
	reply(w, map[string]any{"stopped": true, "audited": open}, nil)
}

// errSelectionStopped answers a batch carrying the token of a command
// whose client asked for no further batch (stopSelection): its line
// said the rest was left as it was, so nothing more is selected or done
// under it (a later batch selected again and acted: rr25 ops25).
var errSelectionStopped = errors.New("this command was stopped (no further batch was asked for, and its audit line says the rest is left as it was): run the command again for the rest")

// stoppedKept is how long a stopped selection's token is remembered
// (answered 410), and maxStopped how many at most.
const (
	stoppedKept = 24 * time.Hour
	maxStopped  = 4096
)

// TallyWaiter marks a command's record as between its batches
// (queue.Manager.TallyWaiting).
type TallyWaiter interface {
	TallyWaiting(key string, at time.Time) error
}

// tallyWaiting marks sel's command in its record as waiting for its
// client's next batch since at, or (zero) as running again. A failure
// is logged: a stop between its batches is then audited as one that
// cut a batch.
func (s *Server) tallyWaiting(sel *selection, at time.Time) {
	tw, ok := s.q.(TallyWaiter)
	if !ok || sel.so.key == "" {
		return
	}
	if err := tw.TallyWaiting(sel.so.key, at); err != nil {
		s.log.Warn("admin: a command between its batches is not marked so in its record; a stop now is audited as one that cut a batch", "err", err)
		return
	}
	sel.so.waiting = !at.IsZero()
}

// TallyKeeper is the queue's record of a running command's tally, kept
// with its commits (queue.WithTally, BulkTallies, EndTally): the audit
// of what a command did survives a daemon killed before its line
// (rt21c M3).
type TallyKeeper interface {
	BulkTallies() ([]queue.BulkTally, error)
	EndTally(key string) error
	TallyUnchanged(ctx context.Context, n int) error
}

// tallyUnchanged adds to a bulk message action's record, at the end of
// a batch, the messages the batch reached and left as they were: the
// admin API passes over those before any commit (queue.TallyUnchanged).
// A failure is logged: the line at the command's end counts them all
// the same; only a line written from the record after a stop lacks
// them (counted there as not reached).
func (s *Server) tallyUnchanged(ctx context.Context, n int) {
	tk, ok := s.q.(TallyKeeper)
	if !ok || n <= 0 {
		return
	}
	if err := tk.TallyUnchanged(ctx, n); err != nil {
		s.log.Warn("admin: the messages a batch left as they were are not in the command's record; a line written from it after a stop counts them as not reached", "err", err)
	}
}

// withTally is ctx for the commits of a command's batch: each adds the
// messages it changed to the command's record (queue.WithTally).
func (s *Server) withTally(r *http.Request, token, action, queueName string, selected int) context.Context {
	ctx := r.Context()
	if _, ok := s.q.(TallyKeeper); !ok || token == "" {
		return ctx
	}
	return queue.WithTally(ctx, queue.BulkTally{Key: token, Who: actor(r), Action: action, Queue: queueName, Selected: selected})
}

// endTally deletes a command's record once its line is written.
func (s *Server) endTally(token string) {
	tk, ok := s.q.(TallyKeeper)
	if !ok || token == "" {
		return
	}
	if err := tk.EndTally(token); err != nil {
		s.log.Warn("admin: the tally of a command whose line is written stays recorded; the next start writes its line again", "err", err)
	}
}

// auditStopped writes, at the start, the line of each command a stop of
// the daemon cut short before its line (kill -9, a crash, a power
// loss), from its record: who asked, the action, and what its commits
// did — those are done, the rest is left as it was.
func (s *Server) auditStopped() {
	tk, ok := s.q.(TallyKeeper)
	if !ok {
		return
	}
	ts, err := tk.BulkTallies()
	if err != nil {
		s.log.Error("admin: reading the tallies of commands cut short by a stop", "err", err)
		return
	}
	for _, t := range ts {
		verb := "done"
		switch {
		case strings.HasPrefix(t.Action, "queue redirect"):
			verb = "redirected"
		case strings.HasPrefix(t.Action, "queue "):
			verb = "made due"
		}
		// Of the messages selected: those its commits changed, those it
		// reached and left as they were, and those it did not reach
		// (rt21c L1's words for a command the client cut).
		counts := fmt.Sprintf("%d %s in its commits", t.Done, verb)
		// A redirect's messages kept on their route and left in delivery
		// are worded as the live line words them: the operator redirects
		// those again (rr24 F4). They are of Unchanged.
		if t.KeptRequireTLS == 1 { // as the live line's (rr34 opsrt33)
			counts += ", 1 REQUIRETLS message kept on its route"
		} else if t.KeptRequireTLS > 0 {
			counts += fmt.Sprintf(", %d REQUIRETLS messages kept on their route", t.KeptRequireTLS)
		}
		if t.InDelivery == 1 { // the count's noun agrees with it (rr34 opsrt33, rt33c F8's sibling)
			counts += ", 1 message in delivery left in the queue (redirect it again after its attempt)"
		} else if t.InDelivery > 0 {
			counts += fmt.Sprintf(", %d messages in delivery left in the queue (redirect again after their attempt)", t.InDelivery)
		}
		counts += fmt.Sprintf(", %d left as they were (already in that state, or not for this action)",
			max(t.Unchanged-t.KeptRequireTLS-t.InDelivery, 0))
		if t.Selected > 0 {
			counts = fmt.Sprintf("of %d selected, %s, %d not reached", t.Selected, counts, max(t.Selected-t.Done-t.Unchanged, 0))
		}
		began := ""
		if !t.Began.IsZero() {
			began = " begun " + t.Began.UTC().Format(time.RFC3339)
		}
		when := "before its end"
		if !t.Waiting.IsZero() {
			// It cut no batch: the client had asked for no further one
			// since its last ended (Ctrl-C, or the next not sent yet).
			when = "between its batches, no further batch asked for since its last ended at " + t.Waiting.UTC().Format(time.RFC3339) +
				" (the command stopped by its client — Ctrl-C — or its next batch not sent yet)"
		}
		s.auditBy(t.Who, t.Action, nil, t.Queue, "cut short by a stop of the daemon (killed or crashed) "+when+": the command"+began+" had, "+counts+"; what it did not change is left as it was")
		s.endTally(t.Key)
	}
}

// closeSelections writes the lines of the commands still open (a stop).
func (s *Server) closeSelections() {
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	for k, v := range s.selections {
		s.auditLeft(v)
		delete(s.selections, k)
	}
}

const (
	selectionIdle = 10 * time.Minute // a selection unused this long is forgotten
	maxSelections = 16               // at most this many kept; the least recently used goes first
)

// batchParams reads a batch's bounds: after and through (message ids),
// and max_time (a duration, at most bulkBatchTimeMax; bounded false
// when not given). A non-empty msg is the usage error to answer.
func batchParams(v url.Values) (after, through queue.ID, budget time.Duration, bounded bool, msg string) {
	for _, p := range []struct {
		key string
		id  *queue.ID
	}{{"after", &after}, {"through", &through}} {
		if t := v.Get(p.key); t != "" {
			var err error
			if *p.id, err = queue.ParseID(t); err != nil {
				return 0, 0, 0, false, p.key + " must be a message id: " + queue.QuoteShown(t)
			}
		}
	}
	budget = bulkBatchTime
	if t := v.Get("max_time"); t != "" {
		var err error
		if budget, err = time.ParseDuration(t); err != nil || budget <= 0 {
			return 0, 0, 0, false, "max_time must be a duration like 5s: " + queue.QuoteShown(t)
		}
		budget, bounded = min(budget, bulkBatchTimeMax), true
	}
	return after, through, budget, bounded, ""
}

// selectionFor is the selection token names, or, when there is none,
// the one made now by sel — cut to through, which it sets when zero —
// kept under a new token; then the messages after after. Called with
// bulkMu held.
func (s *Server) selectionFor(token string, after queue.ID, through *queue.ID, sel func() ([]queue.ID, error)) (string, []queue.ID, error) {
	now := time.Now()
	for k, v := range s.selections {
		if now.Sub(v.used) > selectionIdle {
			s.auditLeft(v)
			delete(s.selections, k)
		}
	}
	if _, ok := s.stopped[token]; ok && token != "" {
		return "", nil, errSelectionStopped
	}
	kept := s.selections[token]
	if kept == nil {
		ids, err := sel()
		if err != nil {
			return "", nil, err
		}
		slices.Sort(ids)
		if *through == 0 && len(ids) > 0 {
			*through = ids[len(ids)-1]
		}
		ids = slices.DeleteFunc(ids, func(id queue.ID) bool { return id > *through })
		if len(s.selections) >= maxSelections {
			oldest := ""
			for k, v := range s.selections {
				if oldest == "" || v.used.Before(s.selections[oldest].used) {
					oldest = k
				}
			}
			s.auditLeft(s.selections[oldest])
			delete(s.selections, oldest)
		}
		var b [12]byte
		_, _ = rand.Read(b[:])
		token = hex.EncodeToString(b[:])
		kept = &selection{ids: ids}
		if s.selections == nil {
			s.selections = map[string]*selection{}
		}
		s.selections[token] = kept
	}
	kept.used = now
	if kept.so.waiting {
		s.tallyWaiting(kept, time.Time{}) // its next batch begins
	}
	k := sort.Search(len(kept.ids), func(i int) bool { return kept.ids[i] > after })
	return token, kept.ids[k:], nil
}

// batchedHeld: action on a queue is done in batches and the selection
// token names is still held, so a later batch acts on what the first
// selected and checked. (A selection forgotten between this call and the
// batch is made again, unchecked: only by maxSelections other commands
// starting in between.)
func (s *Server) batchedHeld(action, token string) bool {
	if _, ok := s.q.(QueueBatcher); !ok || action == "suspend" || token == "" {
		return false
	}
	return s.selectionHeld(token)
}

// selectionHeld: token names a selection kept now (bulkMu taken here).
func (s *Server) selectionHeld(token string) bool {
	if token == "" {
		return false
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	kept := s.selections[token]
	return kept != nil && time.Since(kept.used) <= selectionIdle
}

// QueueBatcher is the queue manager's queue actions in batches
// (queue.Manager.QueueSelection, QueueBatch).
type QueueBatcher interface {
	QueueSelection(action, name string) ([]queue.ID, error)
	QueueBatch(ctx context.Context, action, name, target string, ids []queue.ID, first bool, until time.Time) (queue.BatchResult, error)
}

// QueueResult is the answer to a queue action (queue resume, retry,
// redirect; flush): Rescheduled counts this batch, KeptRequireTLS the
// REQUIRETLS messages a redirect's batch left on their route; Next, Through and
// Selection are for the next batch (BulkResult), Next "" when none is
// left. A request without max_time is done whole.
type QueueResult struct {
	Queue          string `json:"queue,omitempty"`
	Rescheduled    int    `json:"rescheduled"`
	KeptRequireTLS int    `json:"kept_requiretls,omitempty"`
	// KeptInDelivery counts the messages a redirect's batch left in
	// the queue because they were in delivery: a redirect after their
	// attempt moves them (rt21c L4).
	KeptInDelivery int `json:"kept_in_delivery,omitempty"`
	// Released is, for a resume, where the messages its batch made due
	// go, per scheduler destination (queue.BatchResult.Released):
	// "queue:NAME" for those answered or held without one. The client
	// adds the batches' up.
	Released map[string]int `json:"released_to,omitempty"`
	// HeldEach counts, for a resume or retry, the messages of the
	// queue held one by one (message suspend), which it does not
	// release (queue.BatchResult.HeldEach): umbra message resume
	// --queue does.
	HeldEach int `json:"held_each,omitempty"`
	// HeldRestored counts those of HeldEach a db restore holds
	// (queue.BatchResult.HeldRestored), told apart in the words.
	HeldRestored int `json:"held_restored,omitempty"`
	// ShadowHeld counts, for a resume, retry or redirect of a shadow
	// queue, the copies there held for their primary, which it left
	// alone (queue.BatchResult.ShadowHeld).
	ShadowHeld int    `json:"shadow_held,omitempty"`
	Next       string `json:"next,omitempty"`
	Through    string `json:"through,omitempty"`
	Selection  string `json:"selection,omitempty"`
}

// queueBatch serves one batch of a queue action, audited as action.
func (s *Server) queueBatch(w http.ResponseWriter, r *http.Request, qb QueueBatcher, action, name, to, audit string) {
	v := r.URL.Query()
	after, through, budget, bounded, msg := batchParams(v)
	if msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	token, ids, err := s.selectionFor(v.Get("selection"), after, &through, func() ([]queue.ID, error) {
		return qb.QueueSelection(action, name)
	})
	if errors.Is(err, errSelectionStopped) {
		s.auditAs(r, audit, nil, name, "refused: "+err.Error())
		failErr(w, http.StatusGone, err)
		return
	}
	if err != nil {
		s.audit(r, audit, nil, name, err)
		reply(w, nil, err)
		return
	}
	var until time.Time
	if bounded {
		until = time.Now().Add(budget)
	}
	selected := 0
	if sel := s.selections[token]; sel != nil {
		selected = len(sel.ids)
	}
	b, err := qb.QueueBatch(s.withTally(r, token, audit, name, selected), action, name, to, ids, after == 0, until)
	used := b.Used
	out := QueueResult{Queue: name, Rescheduled: b.Changed, KeptRequireTLS: b.KeptRequireTLS, KeptInDelivery: b.KeptInDelivery, Released: b.Released, HeldEach: b.HeldEach, HeldRestored: b.HeldRestored, ShadowHeld: b.ShadowHeld}
	if through != 0 {
		out.Through = through.String()
	}
	if err == nil && used < len(ids) && used > 0 {
		out.Next, out.Selection = ids[used-1].String(), token
	}
	// The audit adds this batch to what the selection counted of the
	// batches before it: the last batch forgets the selection after it.
	written := s.auditQueueBatch(r, token, action, audit, name, b, out.Next != "", err)
	if out.Next == "" {
		delete(s.selections, token)
	}
	reply(w, out, err)
	if written {
		s.endTallyAfter(w, token)
	}
}

// endTallyAfter is endTally once the answer is sent: its commit is not
// in the time the client waits for the command's last batch. The next
// batch of any command waits for it (bulkMu, held by the caller).
func (s *Server) endTallyAfter(w http.ResponseWriter, token string) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.endTally(token)
}

// auditQueueBatch writes a queue action's one audit line, with how many
// messages it changed over all its batches (rt20d-F6: a resume of
// 120,000 in three batches read as three resumes, none counted): at its
// last batch, at a failure, or at a batch whose client went away (the
// command is cut short there; its next run is a command of its own).
// Called with bulkMu held, before the last batch forgets the selection.
func (s *Server) auditQueueBatch(r *http.Request, token, action, audit, name string, b queue.BatchResult, more bool, err error) (written bool) {
	var so far
	sel := s.selections[token]
	if sel != nil {
		so = sel.so
	}
	so.done += b.Changed
	so.matched += b.Used // reached: changed, kept, or left as they were
	so.kept += b.KeptRequireTLS
	so.inDelivery += b.KeptInDelivery
	if sel != nil {
		sel.so = so
	}
	verb := "made due"
	if action == "redirect" {
		verb = "redirected"
	}
	counts := fmt.Sprintf("%d messages %s", so.done, verb)
	if so.done == 1 {
		counts = "1 message " + verb // a count's sentence agrees with it (rt33c F8)
	}
	if so.kept > 0 {
		if so.kept == 1 {
			counts += ", 1 REQUIRETLS message kept on its route"
		} else {
			counts += fmt.Sprintf(", %d REQUIRETLS messages kept on their route", so.kept)
		}
	}
	if so.inDelivery == 1 { // as kept's (rr34 opsrt33)
		counts += ", 1 message in delivery left in the queue (redirect it again after its attempt)"
	} else if so.inDelivery > 0 {
		counts += fmt.Sprintf(", %d messages in delivery left in the queue (redirect again after their attempt)", so.inDelivery)
	}
	cut := r.Context().Err() != nil
	if more && sel != nil {
		// Cut short (or asking for its next batch): the rest of what
		// it selected, as a bulk message action's line says it — those
		// it reached and left as they were, those it did not reach.
		selected := len(sel.ids)
		counts += fmt.Sprintf(", %d left as they were (already in that state, or not for this action), %d of the %d selected not reached",
			max(so.matched-so.done-so.kept-so.inDelivery, 0), max(selected-so.matched, 0), selected)
	}
	if more && err == nil && !cut {
		s.keepOpen(r, token, sel, audit, name, counts)
		return false
	}
	if sel != nil {
		if sel.so.idle != nil {
			sel.so.idle.Stop()
		}
		sel.so = far{}
	}
	result := "ok: " + counts
	switch {
	case err != nil:
		result = auditText(err) + " (" + counts + " before)"
	case more:
		result = "cut short, the client gone: " + counts + "; the rest is left as it was"
	}
	s.auditAs(r, audit, nil, name, result)
	return true
}

// auditBatch adds a batch of a bulk message action to its command's
// tally and writes the command's one audit line (rt20d-F1: a removal of
// 100,000 messages wrote 100,000 lines) at its last batch, or at a batch
// whose client went away, with its counts; each message's own tracking
// event (remove, and the DSN's) is written as for one message. Called
// with bulkMu held, before the last batch forgets the selection.
func (s *Server) auditBatch(r *http.Request, token, action, queueName string, b BulkResult) (written bool) {
	var so far
	sel := s.selections[token]
	if sel != nil {
		so = sel.so
	}
	so.matched += b.Matched
	so.selected = max(so.selected, b.Selected)
	so.done += len(b.Done)
	so.failed += len(b.Failed)
	so.notFound += len(b.NotFound)
	for _, n := range b.Skipped {
		so.skipped += n
	}
	if sel != nil {
		sel.so = so
	}
	// Of the messages selected, those done, failed and skipped, and
	// for a command cut short those it did not reach (rt21c L1: "20224
	// of 20224 selected done" when 30,000 were selected).
	selected := max(so.selected, so.matched)
	counts := fmt.Sprintf("%d of %d selected done, %d failed, %d skipped", so.done, selected, so.failed, so.skipped)
	if so.notFound > 0 {
		counts += fmt.Sprintf(", %d not found", so.notFound) // of the ids given
	}
	if left := selected - so.matched; left > 0 && b.Next != "" {
		counts += fmt.Sprintf(", %d not reached", left)
	}
	cut := r.Context().Err() != nil
	if b.Next != "" && !cut {
		s.keepOpen(r, token, sel, action, queueName, counts)
		return false
	}
	if sel != nil {
		if sel.so.idle != nil {
			sel.so.idle.Stop()
		}
		sel.so = far{}
	}
	result := "ok: " + counts
	switch {
	case b.Next != "":
		result = "cut short, the client gone: " + counts + "; the rest is left as it was"
	case so.failed > 0:
		result = "failed in part: " + counts
	}
	s.auditAs(r, action, nil, queueName, result)
	return true
}
