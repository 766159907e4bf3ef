package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"umbra/internal/config"
	"umbra/internal/dumpster"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// Operator is what the API needs of the queue manager beyond Queue: the
// checks of the names an operator types, actions on one message more, and
// flush. The queue manager implements it.
type Operator interface {
	CheckQueue(name string, mayBeNew bool) error
	RetryMessage(ctx context.Context, id queue.ID) error
	Flush(ctx context.Context) (int, error)
}

// Auditor records operator actions in the tracking log (tracking.Log).
type Auditor interface {
	Write(e tracking.Entry)
}

type peerKey struct{}

// connContext remembers who is at the other end of the connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, peerOf(c))
}

// actor is the peer of the request's socket connection (SO_PEERCRED).
// A request without one was made in-process through Handler (the web
// console): its X-Umbra-Operator header names the operator. The header is
// never believed on the socket, where the kernel names the peer.
func actor(r *http.Request) string {
	if p, ok := r.Context().Value(peerKey{}).(string); ok {
		return p
	}
	if op := r.Header.Get("X-Umbra-Operator"); op != "" && len(op) <= 200 {
		return op
	}
	return "unknown"
}

// audit logs an operator action and writes it to the tracking log: what
// (action), on what (the message's envelope, or the queue), who (the
// socket peer), when (the entry's time), and how it ended.
//
// An action the queue refused before trying it (refusal) is audited
// "refused: " and the refusal's words, as auditRefusals audits one the
// handler refused (rr-opsrt38 F3); one tried that failed, in its words.
func (s *Server) audit(r *http.Request, action string, m *queue.Message, queueName string, err error) {
	result := "ok"
	switch {
	case refusal(err):
		result = "refused: " + auditText(err)
	case err != nil:
		result = auditText(err)
	}
	s.auditAs(r, action, m, queueName, result)
}

// refusal: err refuses an action before it is tried — its target names
// nothing (no such message, queue, database or id), or the action does
// not apply to it now (a shadow copy, a message in delivery, one not
// quarantined, a state the action does not change), or the action is
// unknown, or a TLS report's day is not over — as the answer's 4xx
// says, not a failure of the action.
func refusal(err error) bool {
	var ue *queue.UnknownNameError
	var refused interface{ Refused() bool } // a TLS report's day refused (tlspolicy.SendRefusedError)
	if errors.As(err, &refused) && refused.Refused() {
		return true
	}
	return err != nil && (errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrShadowCopy) ||
		errors.Is(err, queue.ErrQueueSuspended) || errors.Is(err, queue.ErrNotApplicable) || errors.Is(err, queue.ErrSoundCopyElsewhere) ||
		errors.Is(err, queue.ErrNotQuarantined) || errors.Is(err, errUnknownAction) || errors.As(err, &ue))
}

// auditText is err's text for the audit line. The daemon's log and the
// tracking log apply the one rule to what they write; a refusal naming
// an unknown name (queue.UnknownNameError) has applied it already for
// the admin API's answer, so its names are put back as given: written
// by the rule once, as the line's queue is (0xe9 reads \xe9 in both).
func auditText(err error) string {
	var ue *queue.UnknownNameError
	if errors.As(err, &ue) {
		return strings.Replace(err.Error(), ue.Error(), ue.Text(), 1)
	}
	return err.Error()
}

// auditAs is audit with the result in words.
func (s *Server) auditAs(r *http.Request, action string, m *queue.Message, queueName, result string) {
	markAudited(r) // auditrefused.go
	s.auditBy(actor(r), action, m, queueName, result)
}

// auditBy is auditAs for the operator who (a command's line written
// after its last request: auditLeft).
func (s *Server) auditBy(who, action string, m *queue.Message, queueName, result string) {
	args := []any{"action", action, "actor", who, "result", result}
	if m != nil {
		args = append(args, "msg_id", m.ID.String())
	}
	if queueName != "" {
		args = append(args, "queue", queueName)
	}
	s.log.Info("admin", args...)
	a, ok := s.track.(Auditor)
	if !ok {
		return
	}
	e := tracking.Entry{Time: s.now().UTC(), Event: "admin", Action: action, Actor: who, Queue: queueName, Reply: result}
	if m != nil {
		e.ID, e.MessageID, e.OrgID, e.Sender, e.Size = m.ID.String(), m.MessageID, m.OrgID, m.From, m.Size
		// The recipients the action takes: a message action (suspend,
		// resume, retry, remove, a quarantine's release or delete) acts
		// on those still pending, and track --recipient for one
		// delivered or failed before it must not show an operator's
		// action on its copy, as the queue's "remove" event lists only
		// what the removal took (queue removeAction).
		// The first RecipientsShown of them are named, the rest
		// counted: the removal of a message of 50,000 recipients
		// writes one short line (the queue's own "remove" event names
		// each recipient it took).
		for _, i := range m.Pending() {
			if len(e.Recipients) == RecipientsShown {
				e.RecipientsMore++
				continue
			}
			e.Recipients = append(e.Recipients, m.Rcpts[i].Addr)
		}
	}
	a.Write(e)
}

// checkNames answers 404 with the valid names for an unknown queue or
// state; it reports whether the request may go on. One rule names a
// queue in every command (rt21c L3): one the configuration can produce,
// empty or not, or one that holds a message now; a configured queue
// that drained is found empty, not refused as a typo.
func (s *Server) checkNames(w http.ResponseWriter, queueName, state string) bool {
	return s.checkNamesFor(w, queueName, state, true, false)
}

// checkNamesFor is checkNames; for a queue action (suspend, resume,
// retry, redirect) the valid names it gives are the queues the action
// takes: not the poison, quarantine or dumpster queues it refuses.
// emptyQueue: name is a queue the configuration can produce that holds
// nothing now (no message waits in it, none is attempted through it).
func (s *Server) emptyQueue(name string) bool {
	op, ok := s.q.(Operator)
	if !ok || s.newQueue == nil {
		return false
	}
	var ue *queue.UnknownNameError
	return errors.As(op.CheckQueue(name, false), &ue) && s.newQueue(name) == nil
}

// queueNameOf reads a queue name an operator gives (a queue action, a
// message list's filter): a redirect queue's target in its one form
// (queue.CanonicalQueueName) when it is a target queue redirect --to
// takes (config.CheckHostPort); one it refuses (`redirect:h:025`) is
// left as typed, for the name check to refuse as no queue, rather than
// read as another target.
func queueNameOf(raw string) string {
	if target, ok := strings.CutPrefix(raw, "redirect:"); ok && config.CheckHostPort(target) != nil {
		return raw
	}
	return queue.CanonicalQueueName(raw)
}

func (s *Server) checkNamesFor(w http.ResponseWriter, queueName, state string, mayBeNew, action bool) bool {
	err := queue.CheckState(state)
	if err == nil && queueName != "" {
		if op, ok := s.q.(Operator); ok {
			err = op.CheckQueue(queueName, mayBeNew && s.newQueue == nil)
			var existing *queue.UnknownNameError
			if mayBeNew && s.newQueue != nil && errors.As(err, &existing) {
				// No message waits in it: a queue the configuration
				// can produce, named ahead of time.
				var ue *queue.UnknownNameError
				if err = s.newQueue(queueName); errors.As(err, &ue) {
					// The queues that exist now, but for those the
					// queue actions refuse (nothing is delivered from
					// them), and those the configuration can produce.
					ue.Valid = append(existing.Valid, ue.Valid...)
				}
			}
		}
	}
	var ue *queue.UnknownNameError
	if action && errors.As(err, &ue) {
		ue.Valid = actionable(ue.Valid)
	}
	switch {
	case errors.As(err, &ue):
		failShown(w, http.StatusNotFound, ue.Error())
		return false
	case err != nil:
		failErr(w, http.StatusInternalServerError, err)
		return false
	}
	return true
}

// actionable is names without the queues the queue actions refuse
// (nothing is delivered from them: queue.CheckQueueAction): poison,
// quarantine, damaged, dumpsters.
func actionable(names []string) []string {
	var out []string
	for _, n := range names {
		switch queue.DeliveryType(n) {
		case "dumpster", queue.QueuePoison, queue.QueueQuarantine, queue.QueueDamaged:
		default:
			out = append(out, n)
		}
	}
	return out
}

// configuredDatabases lists the mailbox databases the configuration
// names (the valid names the queue-name check gives for "mailbox:"); nil
// without a check.
func (s *Server) configuredDatabases() []string {
	if s.newQueue == nil {
		return nil
	}
	var ue *queue.UnknownNameError
	if !errors.As(s.newQueue("mailbox:"), &ue) {
		return nil
	}
	var out []string
	for _, v := range ue.Valid {
		if db := strings.TrimPrefix(v, "mailbox:"); db != "" && !slices.Contains(out, db) {
			out = append(out, db)
		}
	}
	return out
}

// dumpsterSummaries is every dumpster database's totals: those holding
// copies, and each configured database without one at zero (emptied,
// pruned or never filled, it still exists).
func (s *Server) dumpsterSummaries() ([]dumpster.Summary, error) {
	out, err := s.dump.Summaries()
	if err != nil {
		return nil, err
	}
	for _, db := range s.configuredDatabases() {
		if !slices.ContainsFunc(out, func(sum dumpster.Summary) bool { return sum.Database == db }) {
			out = append(out, dumpster.Summary{Database: db})
		}
	}
	if out == nil {
		out = []dumpster.Summary{}
	}
	slices.SortFunc(out, func(a, b dumpster.Summary) int { return strings.Compare(a.Database, b.Database) })
	return out, nil
}

// checkDumpsterDatabase checks the database of a dumpster list or
// remove: one holding copies or a configured one; else an
// UnknownNameError naming the valid ones.
func (s *Server) checkDumpsterDatabase(db string) error {
	sums, err := s.dumpsterSummaries()
	if err != nil {
		return nil // the command itself reports the store's error
	}
	var names []string
	for _, sum := range sums {
		if sum.Database == db {
			return nil
		}
		names = append(names, sum.Database)
	}
	return &queue.UnknownNameError{Kind: "dumpster database", Name: db, Valid: names}
}

// knownDatabase checks the mailbox database of a redelivery request: it
// has copies in the dumpster, or the configuration in force (the
// SetQueueNames check, as for a mailbox:DB queue) names it. Otherwise a
// queue.UnknownNameError lists both kinds. Without a SetQueueNames check
// only a name with no copies cannot be judged, and passes.
func (s *Server) knownDatabase(db string) error {
	sums, err := s.dump.Summaries()
	if err != nil {
		return err
	}
	var valid []string
	for _, sum := range sums {
		if sum.Database == db {
			return nil
		}
		valid = append(valid, sum.Database)
	}
	if s.newQueue == nil {
		return nil
	}
	err = s.newQueue("mailbox:" + db)
	var ue *queue.UnknownNameError
	if !errors.As(err, &ue) {
		return err // nil: configured
	}
	for _, v := range ue.Valid {
		valid = append(valid, strings.TrimPrefix(v, "mailbox:"))
	}
	return &queue.UnknownNameError{Kind: "mailbox database", Name: db, Valid: valid}
}

// checkRedirectTarget checks a queue redirect's target before anything
// is stored or looked up: config.CheckHostPort, the check of a smart
// host, in its words.
func checkRedirectTarget(to string) error {
	if err := config.CheckHostPort(to); err != nil {
		return jsonsafe.Textf("redirect target %s: %s", queue.QuoteShown(to), jsonsafe.TextBytes(err.Error())) // in the text form: escaped once
	}
	return nil
}

// checkSmartHost checks a smart host given to the API (route explain
// --topology FILE's, for the self-check) as the configuration's are
// checked: config.CheckHostPort, in its words, before anything is
// looked up.
func checkSmartHost(h string) error {
	if err := config.CheckHostPort(h); err != nil {
		return jsonsafe.Textf("smart host %s: %s", queue.QuoteShown(h), jsonsafe.TextBytes(err.Error()))
	}
	return nil
}

// SetQueueNames gives the API the check of a queue name that holds no
// message now (a suspension ahead of maintenance): check returns a
// queue.UnknownNameError for a name the configuration cannot produce.
// Without it any well-formed KIND:NAME of a known kind is accepted.
func (s *Server) SetQueueNames(check func(name string) error) { s.newQueue = check }

// filterOf reads a message filter from query parameters: queue, from,
// to, state, domain, older_than (a Go duration), limit.
func filterOf(v url.Values) (queue.MessageFilter, error) {
	f := queue.MessageFilter{Queue: queueNameOf(v.Get("queue")), From: asGiven(v.Get("from")), To: asGiven(v.Get("to")), State: v.Get("state"),
		Domain: v.Get("domain")}
	f.Limit, _ = strconv.Atoi(v.Get("limit"))
	if err := queue.CheckDomain(f.Domain); err != nil {
		return f, err
	}
	if s := v.Get("older_than"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return f, jsonsafe.Textf("older_than must be a duration like 90m or 2h: %s", queue.QuoteShown(s))
		}
		f.OlderThan = d
	}
	return f, nil
}

// BulkTake is a message a dry-run removal would remove and the
// recipients it would take with it.
type BulkTake struct {
	ID         string          `json:"id"`
	Recipients []BulkRecipient `json:"recipients"`
	// More counts the recipients it takes beyond those named: at most
	// TakesShown of a message are named, so a message of 10,000
	// recipients answers in a few lines, its count exact.
	More int `json:"more,omitempty"`
}

// TakesShown is how many of a message's recipients a dry run of a
// removal names (BulkTake); More counts the rest.
const TakesShown = 10

// RecipientsShown is how many of a message's recipients message show
// (without --all) and an operator action's audit entry name; the rest
// are counted (MessageView.RecipientsMore, tracking.Entry's
// RecipientsMore), as a dry-run removal names TakesShown.
const RecipientsShown = TakesShown

// BulkRecipient is a recipient and the queue it waits in.
type BulkRecipient struct {
	Address string `json:"address"`
	Queue   string `json:"queue"`
}

// BulkResult is the answer to an action on the messages a filter selects.
//
// One request does one batch: the messages selected, oldest first (by
// id), after After and up to Through, for as long as max_time allows
// (bulkBatchTime); many messages share a commit (queue.MessageBatch:
// each done or not after a crash, each answering as the action on it
// alone does). Next is the
// id to pass as after for the next batch, "" when none is left. The
// first request selects the messages (the filter's, once) and keeps
// them for the next under Selection (batches.go): a message selected is
// acted on at its turn whatever it became meanwhile (read again: one
// gone is skipped), and one that matches only later is not; Through is
// the newest selected, the bound a later request selects up to again
// when its selection is gone (a restart), so that the batches of one
// command end although mail keeps arriving. Matched,
// Done, Failed and Skipped count this batch. Client.BulkActionForce
// runs the batches to the end and adds them up; a command cut short
// (Ctrl-C, a lost connection) has done what its finished batches say,
// and its next run takes the rest.
type BulkResult struct {
	Action  string       `json:"action"`
	DryRun  bool         `json:"dry_run"`
	Matched int          `json:"matched"`
	Done    []string     `json:"done"`
	Failed  []BulkFailed `json:"failed,omitempty"`
	// Skipped counts, by reason, the selected messages the action does
	// not apply to and leaves untouched (queue.BulkSkip): shadow copies,
	// quarantined messages, and those it has nothing to do on as it
	// finds them (queue.SkipReason: a resume of a message not suspended,
	// a message another command changed since the selection). They are
	// in Matched, not in Done or Failed.
	Skipped map[string]int `json:"skipped,omitempty"`
	// Selected counts the messages the command selected, all its
	// batches (those before this one, this one, those to come; after a
	// restart, what was left to select again): a command cut short says
	// how many of them it did not reach (rt21c L1).
	Selected int `json:"selected,omitempty"`
	// NotFound lists the ids a command was given (given=true) that name
	// no message here (never, or no longer: delivered, expired,
	// removed); they are in Matched. A filter's message gone by its turn
	// is skipped instead (bulkGone): the filter named no id.
	NotFound []string `json:"not_found,omitempty"`
	// Takes lists, for a dry run of a removal, what each message it
	// would remove takes with it: every recipient still to deliver, with
	// the queue it waits in — a removal takes the whole message, also
	// its recipients in other queues than the one a --queue filter
	// names (rt41 F6), as the real removal's audit line lists them.
	// OtherQueues counts those outside that queue.
	Takes       []BulkTake `json:"takes,omitempty"`
	OtherQueues int        `json:"other_queues,omitempty"`
	// Unchanged lists, with the reason, the ids given that the action
	// had nothing to do on (already suspended, not waiting for a retry:
	// queue.SkipReason), also counted in Skipped; they are no failure.
	Unchanged []BulkFailed `json:"unchanged,omitempty"`
	// Notes is what follows from the action on an id given (a removal of
	// a damaged shadow copy names what its primary does), as the action
	// on that one message answers it.
	Notes []BulkNote `json:"notes,omitempty"`
	// NoDSN counts, by reason, the messages a remove --ndr by filter
	// removed with no DSN sent (a message with the null sender: none
	// goes to <>; a damaged record, whose envelope does not decode):
	// an id given says it in its note instead. They are in Done.
	NoDSN   map[string]int `json:"no_dsn,omitempty"`
	Next    string         `json:"next,omitempty"`
	Through string         `json:"through,omitempty"`
	// Selection names the messages the command selected at its first
	// batch, kept for its next (batches.go).
	Selection string `json:"selection,omitempty"`
}

// bulkGone is the reason a message selected is skipped when it is gone
// by the time its turn comes (delivered, expired, removed by another
// command meanwhile).
const bulkGone = "no longer queued"

// errGivenGone answers a later batch of a command given ids whose
// selection the daemon no longer holds (it restarted): the ids were sent
// with the first batch only.
var errGivenGone = errors.New("the ids this command was given are no longer held here (the daemon restarted, or the command waited over 10 minutes): run the command again for the rest")

// maxGivenBody bounds the ids one command may give (given=true): 10
// million ids as the CLI reads them, each at most 100 bytes and its
// newline.
const maxGivenBody = 10_000_000 * 101

// readGivenIDs reads the ids a command gives in its first request's
// body, one a line; each line must be a message id (the client sends
// only those: one that is not names no message, not found before it is
// sent). Duplicates are acted on once.
func readGivenIDs(w http.ResponseWriter, r *http.Request) ([]queue.ID, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGivenBody))
	if err != nil {
		return nil, fmt.Errorf("%w: the ids given: %v", errBadGiven, err)
	}
	var ids []queue.ID
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		id, err := queue.ParseID(line)
		if err != nil {
			return nil, jsonsafe.Textf("%w: %w", errBadGiven, err) // ParseID's refusal is in the text form: answered once (failErr)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no message id in the request's body", errBadGiven)
	}
	if len(ids) > bulkLimit*10 {
		return nil, fmt.Errorf("%w: more than %d ids", errBadGiven, bulkLimit*10)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// errBadGiven marks a request whose given ids cannot be read (400).
var errBadGiven = errors.New("bad request")

func (b *BulkResult) skip(why string) {
	if b.Skipped == nil {
		b.Skipped = map[string]int{}
	}
	b.Skipped[why]++
}

// BulkFailed is one message the action could not be carried out on.
type BulkFailed struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// BulkNote is what follows from the action on one message given by id.
type BulkNote struct {
	ID   string `json:"id"`
	Note string `json:"note"`
}

// bulkChunk is how many messages a batch hands the queue at once
// (MessageBatcher): about as many as one commit takes.
const bulkChunk = 256

// bulkLimit bounds how many messages one bulk action selects.
const bulkLimit = 1_000_000

// bulkBatchTime bounds the time one request of a bulk action works when
// the client does not say (max_time); bulkBatchTimeMax bounds what it
// may say. A batch ends at the first message after its time is up, so
// that a large queue is done in several requests, each answered well
// within the client's wait (Client.BulkActionForce asks for a quarter of
// it).
const (
	bulkBatchTime    = 5 * time.Second
	bulkBatchTimeMax = 60 * time.Second
)

// messageAction carries out one message action; m is the message as it
// was before, for the audit.
func (s *Server) messageAction(r *http.Request, action string, id queue.ID, ndr bool) error {
	m, _ := s.q.Message(id)
	if m == nil {
		m = &queue.Message{ID: id}
	}
	return s.messageActionOn(r, action, m, ndr)
}

// messageActionOn is messageAction on m as read just before, audited.
func (s *Server) messageActionOn(r *http.Request, action string, m *queue.Message, ndr bool) error {
	err := s.actOn(r, action, m.ID, ndr)
	label := auditedAction(r, action, ndr)
	if err == nil && action == "remove" && nullSenderNDR(m, ndr) {
		label += " (" + noDSNNullSender + ")" // view.go: the operator asked for one
	}
	s.audit(r, label, m, "", messageNotHere(m.ID, err)) // the refusal's words as the answer's: "no such message ID"
	return err
}

// auditedAction is the action as the audit names it: remove with its
// --force and --ndr.
func auditedAction(r *http.Request, action string, ndr bool) string {
	if action == "remove" && r.URL.Query().Get("force") == "true" {
		action = "remove --force"
	}
	if action == "remove" || action == "remove --force" {
		if ndr {
			action += " --ndr"
		}
	}
	return "message " + action
}

// actOn carries out one message action, not audited.
func (s *Server) actOn(r *http.Request, action string, id queue.ID, ndr bool) error {
	switch action {
	case "suspend":
		return s.q.SuspendMessage(r.Context(), id)
	case "resume":
		return s.q.ResumeMessage(r.Context(), id)
	case "remove":
		if r.URL.Query().Get("force") == "true" {
			fr, ok := s.q.(ForceRemover)
			if !ok {
				return errors.New("remove --force is not supported")
			}
			return fr.RemoveMessageForce(r.Context(), id, ndr)
		}
		return s.q.RemoveMessage(r.Context(), id, ndr)
	case "retry":
		op, ok := s.q.(Operator)
		if !ok {
			return errors.New("retry is not supported")
		}
		return op.RetryMessage(r.Context(), id)
	}
	return errUnknownAction
}

// MessageBatcher is the queue's message actions on many messages per
// commit (queue.Manager.MessageBatch): the outcomes of a prefix of ids,
// each as the action on that message alone answers it.
type MessageBatcher interface {
	MessageBatch(ctx context.Context, action string, ids []queue.ID, ndr, force bool, until time.Time) []error
}

// actOnMany carries out action on ids (in their order) until deadline:
// the outcomes of a prefix of them, at least the first, its commits in
// ctx (the command's tally: withTally). Without a MessageBatcher, one
// message at a time.
func (s *Server) actOnMany(ctx context.Context, r *http.Request, action string, ids []queue.ID, ndr, force bool, deadline time.Time) []error {
	if mb, ok := s.q.(MessageBatcher); ok {
		return mb.MessageBatch(ctx, action, ids, ndr, force, deadline)
	}
	var errs []error
	for i, id := range ids {
		if i > 0 && (time.Now().After(deadline) || r.Context().Err() != nil) {
			break
		}
		errs = append(errs, s.actOn(r, action, id, ndr))
	}
	return errs
}

// MessageLister is the queue's selection of a filter's messages by id
// (queue.Manager.MessageIDs), the records not kept.
type MessageLister interface {
	MessageIDs(f queue.MessageFilter) ([]queue.ID, error)
}

// ForceRemover is the queue's removal of a message holding a shadow
// copy (queue.Manager.RemoveMessageForce: message remove --force).
type ForceRemover interface {
	RemoveMessageForce(ctx context.Context, id queue.ID, ndr bool) error
}

// checkAction is messageAction's dry run: the action's own check
// (queue.StateView.Refusal) of message id now, nothing written. A forced
// removal is refused only for a message in delivery.
func (s *Server) checkAction(ctx context.Context, action string, id queue.ID, force bool) error {
	switch action {
	case "suspend", "resume", "remove", "retry":
	default:
		return errUnknownAction
	}
	m, err := s.q.Message(id)
	if err != nil {
		return err
	}
	return s.settledRefusal(ctx, s.stateView(), action, m, force)
}

// SettleAwaiter is the queue's wait for a message found in an attempt
// that hands nothing on (queue.Manager.AwaitSettled: a dead
// destination's answer waiting for its commit).
type SettleAwaiter interface {
	AwaitSettled(ctx context.Context, id queue.ID) bool
}

// settledRefusal is refusal, and for a message it finds in delivery the
// wait the action itself makes (rt21c M2): an attempt that only settles
// — its destination dead, its answer waiting for its commit — is waited
// for (at most 2 s), and the message checked again as it is then, in a
// view of that moment. A dry run behind a dead next hop listed hundreds
// of messages "being delivered" that the action then acted on.
func (s *Server) settledRefusal(ctx context.Context, sv queue.StateView, action string, m *queue.Message, force bool) error {
	err := s.refusal(sv, action, m, force)
	sa, ok := s.q.(SettleAwaiter)
	if !ok || !errors.Is(err, queue.ErrBusy) || !sa.AwaitSettled(ctx, m.ID) {
		return err
	}
	again, gerr := s.q.Message(m.ID)
	if gerr != nil {
		return gerr
	}
	return s.refusal(s.stateView(), action, again, force)
}

// refusal is the action's check of m as sv sees it (one view for a
// whole batch of a dry run); a forced removal passes a shadow
// copy (ErrShadowCopy). A removal is decided by the queue's own removal
// code (RemoveChecker), which also refuses, without force, a message
// whose body here is unreadable while its shadow copy is elsewhere.
func (s *Server) refusal(sv queue.StateView, action string, m *queue.Message, force bool) error {
	// A message claimed whose every job waits for a slot is checked as
	// the action finds it, Ready: the view's jobs say so.
	err := sv.Refusal(action, m)
	if force && action == "remove" && errors.Is(err, queue.ErrShadowCopy) {
		err = nil
	}
	if rc, ok := s.q.(RemoveChecker); ok && err == nil && action == "remove" {
		return rc.CheckRemove(m.ID, force)
	}
	return err
}

// RemoveChecker is the dry run of the queue's removal
// (queue.Manager.CheckRemove): the refusal remove (force: remove
// --force) would answer, from the same decision, nothing written.
type RemoveChecker interface {
	CheckRemove(id queue.ID, force bool) error
}

var errUnknownAction = errors.New("unknown message action (suspend, resume, remove, retry)")

// bulk serves POST /v1/messages/{action}?FILTER[&dry_run=true][&ndr=true]
// [&after=ID][&through=ID][&max_time=DURATION]: the action on one batch
// of the messages the filter selects (BulkResult). A filter is required;
// all=true selects every message; given=true selects the ids in the
// first batch's body (one a line: `message ACTION ID...` and `-`), many
// per commit as a filter's. A command given ids names each message: one
// the action has nothing to do on is Unchanged (by reason), one not here
// NotFound, and a refusal (a shadow copy, a quarantined message) is a
// failure as by id — no skip of the filters' (queue.BulkSkipForce).
func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	// The batch's time counts from its arrival: the wait for another
	// batch (bulkMu), the first batch's selection and a dry run's view
	// are inside it, so the answer comes within max_time plus one
	// message's commit, within the client's wait.
	arrived := time.Now()
	action := r.PathValue("action")
	switch action {
	case "suspend", "resume", "remove", "retry":
	default:
		fail(w, http.StatusNotFound, errUnknownAction.Error())
		return
	}
	v := r.URL.Query()
	f, err := filterOf(v)
	if err != nil {
		failErr(w, http.StatusBadRequest, err)
		return
	}
	given := v.Get("given") == "true"
	switch filtered := f != (queue.MessageFilter{Limit: f.Limit}) || v.Get("all") == "true"; {
	case given && filtered:
		fail(w, http.StatusBadRequest, "give ids (given=true) or a filter, not both")
		return
	case !given && !filtered:
		fail(w, http.StatusBadRequest, "select messages with a filter (queue, from, to, state, domain, older_than) or all=true")
		return
	}
	after, through, budget, _, msg := batchParams(v) // batches.go
	if msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	// A later batch (after=ID) whose selection is held acts on what the
	// first selected and checked; one whose selection is gone selects
	// again, checked again: the queue it named may be empty by now.
	named := f.Queue
	if after != 0 && s.selectionHeld(v.Get("selection")) {
		named = ""
	}
	if !s.checkNames(w, named, f.State) {
		return
	}
	if f.Limit <= 0 || f.Limit > bulkLimit {
		f.Limit = bulkLimit
	}
	// One batch at a time: a batch whose client went away (Ctrl-C) runs
	// to its time's end; the next run's first batch waits for it, then
	// selects what is left, so no two batches act on one message.
	if s.batchArrived != nil {
		s.batchArrived()
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	// The selection is made once, by the command's first batch, and kept
	// for the next (batches.go); each message is read again at its turn.
	token, ids, err := s.selectionFor(v.Get("selection"), after, &through, func() ([]queue.ID, error) {
		if given {
			if after != 0 {
				return nil, errGivenGone // sent with the first batch only
			}
			return readGivenIDs(w, r)
		}
		if ml, ok := s.q.(MessageLister); ok {
			return ml.MessageIDs(f) // ids only: a selection of 100,000 messages holds no record (ops22 2)
		}
		ms, err := s.q.Messages(f)
		ids := make([]queue.ID, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		return ids, err
	})
	switch {
	case errors.Is(err, errGivenGone), errors.Is(err, errSelectionStopped):
		failErr(w, http.StatusGone, err)
		return
	case errors.Is(err, errBadGiven):
		failErr(w, http.StatusBadRequest, err)
		return
	case err != nil:
		reply(w, nil, err)
		return
	}
	out := BulkResult{Action: action, DryRun: v.Get("dry_run") == "true", Done: []string{}}
	if sel := s.selections[token]; sel != nil {
		out.Selected = len(sel.ids)
	}
	if through != 0 {
		out.Through = through.String()
	}
	ndr := v.Get("ndr") == "true"
	force := v.Get("force") == "true"
	tallied := s.withTally(r, token, auditedAction(r, action, ndr), f.Queue, out.Selected) // the command's audit, with its commits
	var sv queue.StateView
	if out.DryRun {
		sv = s.stateView() // once for the batch, not per message
	}
	deadline := arrived.Add(budget)
	// Each message selected in turn: read, skipped or checked (a dry
	// run), or put with the next to act on in one commit (actOnMany).
	// outcomes[i] is ids[i]'s; a commit that stopped short of its time
	// cuts the batch after the last message it reached.
	type outcome struct {
		skip string
		err  error
		note string // given ids: what follows from a removal (removeNote)
		// By filter: why a remove --ndr sends no DSN for it (noDSNReason).
		noDSN string
		// A dry run of a removal: the recipients it would take (the
		// first TakesShown), how many more, and how many of all of
		// them wait outside the queue a --queue filter names.
		takes       []BulkRecipient
		more, other int
	}
	var outcomes []outcome
	var pending []int // indexes of ids to act on, in order
	cut := -1
	flush := func() {
		if len(pending) == 0 {
			return
		}
		pids := make([]queue.ID, len(pending))
		for k, i := range pending {
			pids[k] = ids[i]
		}
		errs := s.actOnMany(tallied, r, action, pids, ndr, force, deadline)
		for k, err := range errs {
			outcomes[pending[k]].err = err
		}
		if len(errs) < len(pending) {
			cut = pending[len(errs)]
		}
		pending = pending[:0]
	}
	for i, id := range ids {
		if i > 0 && (time.Now().After(deadline) || r.Context().Err() != nil) {
			// Those read and waiting are acted on as far as the
			// queue takes them now (at least one).
			if flush(); cut < 0 {
				cut = i
			}
			break
		}
		outcomes = append(outcomes, outcome{})
		m, err := s.q.Message(id)
		if errors.Is(err, queue.ErrNotFound) {
			outcomes[i].skip = bulkGone
			continue
		} else if err != nil {
			outcomes[i].err = err
			continue
		}
		if given {
			// Named by the operator: refused as by id (a shadow copy, a
			// quarantined message), or nothing to do (SkipReason) —
			// a suspension of one suspended is the action's own answer.
			if action == "remove" && !out.DryRun {
				outcomes[i].note = removeNoteNDR(m, ndr)
			}
		} else if why := queue.BulkSkipForce(action, m, force); why != "" {
			outcomes[i].skip = why
			continue
		} else if action == "remove" && !out.DryRun {
			outcomes[i].noDSN = noDSNReason(m, ndr)
		}
		if action == "resume" && m.RestoredSuspended() {
			outcomes[i].note = queue.RestoredResumeNote // it may have gone already (queue restoregone.go)
		}
		if out.DryRun {
			// The action's own check, minus the write: a dry run
			// predicts the refusals the action would answer.
			outcomes[i].err = s.settledRefusal(r.Context(), sv, action, m, force)
			if action == "remove" {
				o := &outcomes[i]
				for _, k := range m.Pending() {
					rc := BulkRecipient{Address: m.Rcpts[k].Addr, Queue: queue.RecipientQueue(&m.Rcpts[k])}
					if f.Queue != "" && rc.Queue != f.Queue {
						o.other++
					}
					if len(o.takes) < TakesShown {
						o.takes = append(o.takes, rc)
					} else {
						o.more++
					}
				}
			}
			continue
		}
		if pending = append(pending, i); len(pending) >= bulkChunk {
			if flush(); cut >= 0 {
				break
			}
		}
	}
	if cut < 0 {
		flush()
	}
	if cut >= 0 {
		outcomes = outcomes[:cut]
		out.Next, out.Selection = ids[cut-1].String(), token
	}
	for i, o := range outcomes {
		out.Matched++
		switch {
		case given && (o.skip == bulkGone || errors.Is(o.err, queue.ErrNotFound)):
			out.NotFound = append(out.NotFound, ids[i].String())
		case o.skip != "":
			out.skip(o.skip)
		case errors.Is(o.err, queue.ErrNotFound):
			out.skip(bulkGone)
		case queue.SkipReason(o.err) != "":
			// Nothing to do on it, as it is now (another command may
			// have changed it since the selection): a skip by reason.
			out.skip(queue.SkipReason(o.err))
			if given {
				out.Unchanged = append(out.Unchanged, BulkFailed{ID: ids[i].String(), Error: queue.SkipReason(o.err)})
			}
		case o.err != nil:
			out.Failed = append(out.Failed, BulkFailed{ID: ids[i].String(), Error: messageNotHere(ids[i], o.err).Error()})
		default:
			out.Done = append(out.Done, ids[i].String())
			if o.note != "" {
				out.Notes = append(out.Notes, BulkNote{ID: ids[i].String(), Note: o.note})
			}
			if len(o.takes) > 0 {
				out.Takes = append(out.Takes, BulkTake{ID: ids[i].String(), Recipients: o.takes, More: o.more})
				out.OtherQueues += o.other
			}
			if o.noDSN != "" {
				if out.NoDSN == nil {
					out.NoDSN = map[string]int{}
				}
				out.NoDSN[o.noDSN]++
			}
		}
	}
	written := false // the command's line: its tally is deleted after the answer
	if !out.DryRun {
		// What the batch reached and left as it was goes into the
		// command's record with the changes its commits counted: a stop
		// before the command's line leaves a record that adds up
		// (bulktally.go).
		s.tallyUnchanged(tallied, out.Matched-len(out.Done))
		written = s.auditBatch(r, token, auditedAction(r, action, ndr), f.Queue, out)
	}
	if out.Next == "" {
		delete(s.selections, token) // the command's last batch
	}
	reply(w, out, nil)
	if written {
		s.endTallyAfter(w, token)
	}
}

// asGiven is a filter value an operator copied from what umbra shows
// (the CLI's tables, the console), as the value it shows: the escapes of
// a character (\u001b, \t: jsonsafe.FromShown) and of a byte that is
// not UTF-8 (\xe9: jsonsafe.FromTextBytes) undone, a doubled backslash
// run read as text, so it compares with the sender, recipient or id
// stored as received; umbra track takes a value so too. A value that is
// not UTF-8 holds the raw byte already and is taken as it is.
func asGiven(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	s, _ = jsonsafe.FromShown(s)
	return jsonsafe.FromTextBytes(s)
}
