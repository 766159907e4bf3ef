package admin

import (
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"umbra/internal/header"
	"umbra/internal/queue"
)

// MessageView is a message as the API shows it: envelope and state, never
// the body (that is /eml).
type MessageView struct {
	ID          string          `json:"id"`
	State       string          `json:"state"`
	From        string          `json:"from"`
	Size        int64           `json:"size"`
	Arrived     time.Time       `json:"arrived"`
	Connector   string          `json:"connector"`
	ClientIP    string          `json:"client_ip,omitempty"`
	MessageID   string          `json:"message_id,omitempty"`
	Subject     string          `json:"subject,omitempty"` // decoded (RFC 2047); only for a single message
	OrgID       string          `json:"org_id,omitempty"`  // organisation message id (SR-14)
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	LastError   string          `json:"last_error,omitempty"` // the one that still applies (queue.CurrentError)
	Queues      []string        `json:"queues"`
	Recipients  []RecipientView `json:"recipients"`
	// RecipientsMore counts the recipients beyond those named: a single
	// message's answer (message show) names the first RecipientsShown
	// unless all are asked for (recipients=all, show --all), so a
	// message of 50,000 recipients answers in a few lines, its count
	// exact.
	RecipientsMore int `json:"recipients_more,omitempty"`
	// Quarantine: why an edge check holds the message (state quarantined).
	Quarantine string `json:"quarantine,omitempty"`
	// Held: why recipients wait without being attempted — the suspended
	// queues they wait in (state held when every pending one does).
	Held string `json:"held,omitempty"`
	// RestoredSuspended: a restore holds the message suspended — the
	// backup held it to deliver, the database the restore replaced no
	// longer did (queue restoregone.go) —: a resume may send it to a
	// recipient a second time. Its last_error says why.
	RestoredSuspended bool `json:"restored_suspended,omitempty"`
	// SingleCopy: the message is held by this server only — its shadow
	// copy was lost with its server's database, or not made — and since
	// when (queue holders.go); "" while a shadow copy is known.
	SingleCopy string `json:"single_copy,omitempty"`
	// ShadowCopy: the server holding a shadow copy of the message, ""
	// when none is known (only for a single message: message show). A
	// copy it lost is SingleCopy instead.
	ShadowCopy string `json:"shadow_copy,omitempty"`
	// HolderUnreached: the server holding (or that held) its copy has
	// not been reached by a probe since this server's start: it may have
	// taken the message over and delivered it while this server was
	// away (shadow.UnreachedNote, rt30a F2; only for message show).
	HolderUnreached string `json:"holder_unreached,omitempty"`
	// Unconfirmed: the other servers that may hold a copy on receipt of
	// the message — pushed to without confirmation (README "Unconfirmed
	// copies"), each with whether its discard is owed and not fetched
	// yet (only for a single message: message show).
	Unconfirmed []queue.UnconfirmedPush `json:"unconfirmed_copies,omitempty"`
	// Damaged: the record does not decode (state damaged): why, the
	// size of its bytes kept as found, and what acts on it (queue
	// damaged.go).
	Damaged string `json:"damaged,omitempty"`
	// CopyOf: a damaged record set aside here that was a shadow copy of
	// another server's message: that server (its primary).
	CopyOf string `json:"copy_of,omitempty"`
	// Spool: a spooled body's file and whether it holds the content
	// (only for a single message; spoolview.go).
	Spool *SpoolView `json:"spool,omitempty"`
	// ResultsPending: the message's last attempt handed it on but its
	// results could not be committed (a full disk): since when, how many
	// commits failed and the last error; it is not attempted again while
	// they are retried (queue pendingresults.go). Only for a single
	// message.
	ResultsPending string `json:"results_pending,omitempty"`
	// RequireTLS: the sender asked for REQUIRETLS (RFC 8689); a queue
	// redirect leaves such a message on its route.
	RequireTLS bool `json:"require_tls,omitempty"`
	// WaitingOn: the longest wait of its attempt now on a host in a
	// step of its session — the host, the step in a delay notice's
	// words, since when (queue.Stall) —, each recipient's in its own
	// waiting_on; none when no session of it waits.
	WaitingOn *queue.Stall `json:"waiting_on,omitempty"`
}

// pendingResults is the part of the queue that knows attempts' results
// waiting for their commit.
type pendingResults interface {
	PendingResult(id queue.ID) (since time.Time, failures int, lastErr error, ok bool)
	PendingOutcome(id queue.ID) ([]queue.Recipient, bool)
}

// showPendingOutcome puts into v (message id, read from the database)
// the attempt whose results wait for their commit: counted in its
// attempts, and each recipient as the attempt left it, its status
// marked "(not committed)" — the database still holds the state before
// the attempt, which a commit that never comes (a stop) leaves true.
func showPendingOutcome(v *MessageView, pr pendingResults, id queue.ID) {
	rcpts, ok := pr.PendingOutcome(id)
	if !ok || len(rcpts) != len(v.Recipients) {
		return
	}
	v.Attempts++
	shown := &queue.Message{Rcpts: rcpts}
	for i, r := range rcpts {
		v.Recipients[i] = RecipientView{Address: r.Addr, Status: r.Status.String() + " (not committed)", Queue: r.Queue,
			NextHop: r.NextHop, LastReply: queue.ShownReply(shown, i)}
	}
	v.LastError = pendingLastError(rcpts)
}

// showPendingLastError gives v (message id, in a listing) the last error
// its pending results make, when its results wait for their commit.
func showPendingLastError(v *MessageView, pr pendingResults, id queue.ID) {
	if rcpts, ok := pr.PendingOutcome(id); ok {
		v.LastError = pendingLastError(rcpts)
	}
}

// pendingLastError is the last error of a message whose attempt's
// results, rcpts, wait for their commit: that they wait, first, so a
// column cut short keeps it, then the last reply the attempt left a
// recipient still to deliver (queue.CurrentError of the outcome), if
// any — not the database's, which is the attempt's before (rt44
// shadow4 F3: "451 4.3.0 try later" beside a recipient shown "relayed
// (not committed) … 250").
func pendingLastError(rcpts []queue.Recipient) string {
	const waits = "results of the last attempt not committed yet (retried every 5s)"
	if e := queue.CurrentError(&queue.Message{Rcpts: rcpts}); e != "" {
		return waits + "; its last reply: " + e
	}
	return waits
}

// resultsPendingText is MessageView.ResultsPending for message id, ""
// when its results are not pending.
func resultsPendingText(pr pendingResults, id queue.ID) string {
	since, n, err, ok := pr.PendingResult(id)
	if !ok {
		return ""
	}
	why := ""
	if err != nil {
		why = ": " + err.Error()
	}
	return fmt.Sprintf("results not committed since %s (%d failed commits%s); retried every 5s, the message is not attempted again meanwhile",
		since.UTC().Format(time.RFC3339), n, why)
}

// RecipientView is one recipient's progress.
type RecipientView struct {
	Address string `json:"address"`
	Status  string `json:"status"`
	Queue   string `json:"queue,omitempty"`
	// NextHop is the host its last attempt was at; none while its
	// attempt runs ("active": that attempt's is not known yet).
	NextHop   string `json:"next_hop,omitempty"`
	LastReply string `json:"last_reply,omitempty"`
	// WaitingOn: what its attempt now waits on — a host in a step of
	// its session, since when (queue.Stall) —; none when it is in no
	// session's step.
	WaitingOn *queue.Stall `json:"waiting_on,omitempty"`
}

// view shows m as sv sees it, in the state its queue counts it in
// (queue.StateView: a message of a suspended queue is "held").
func view(m *queue.Message, sv queue.StateView) MessageView {
	v := MessageView{ID: m.ID.String(), State: sv.State(m), From: m.From, Size: m.Size, Arrived: m.ArrivedHere(),
		Connector: m.Connector, ClientIP: m.ClientIP, Attempts: m.Attempts, LastError: queue.CurrentError(m),
		Queues: sv.Queues(m), MessageID: m.MessageID, OrgID: m.OrgID, Quarantine: m.Quarantine, Held: sv.Held(m),
		RequireTLS: m.RequireTLS, RestoredSuspended: m.RestoredSuspended()}
	if m.State == queue.Damaged {
		v.Damaged = fmt.Sprintf("the record of %d bytes does not decode: %s; kept as found, never delivered: "+
			"umbra message export %s writes its body, umbra message remove %s removes it", m.Size, m.LastError, m.ID, m.ID)
		if m.DamagedCopyOf != "" {
			// A shadow copy kept here: its primary has the message.
			v.CopyOf = m.DamagedCopyOf
			v.Damaged = fmt.Sprintf("the record of %d bytes does not decode: %s; it is a shadow copy of a message of %s, kept as found, "+
				"never delivered or taken over: %s is told of it at its next holder probe and copies the message again, "+
				"so the message is not lost with it; umbra message export %s writes its body, umbra message remove %s removes it",
				m.Size, m.LastError, m.DamagedCopyOf, m.DamagedCopyOf, m.ID, m.ID)
		}
	}
	if v.State == "held" && v.Held != "" {
		// What holds it now is its queue's suspension: last_error says
		// so, as message list's LAST ERROR column does and message show's
		// last error: does (rt24c F14), and held names the queues; each
		// recipient's last_reply keeps its own deferral. The reply the
		// next hop gave before the hold follows it: the hold is not
		// the cause the operator needs (dsnlast47).
		v.LastError = v.Held
		if last := queue.HeldLastReply(m); last != "" {
			v.LastError += "; last reply: " + last
		}
	}
	if m.State == queue.Ready && v.State != "held" {
		// A held message waits for its queue's resume, not for a time;
		// one behind a dead destination for its cool-down's end (Due).
		v.NextAttempt = sv.Due(m)
	}
	for i, r := range m.Rcpts {
		v.Recipients = append(v.Recipients, RecipientView{Address: r.Addr, Status: sv.RecipientStatus(m, i), Queue: queue.RecipientQueue(&m.Rcpts[i]),
			NextHop: sv.RecipientNextHop(m, i), LastReply: queue.ShownReply(m, i), WaitingOn: sv.WaitingOn(m, i)})
	}
	v.WaitingOn = sv.OldestWait(m)
	return v
}

// stateView is the view of messages now: the suspended queues make
// their messages "held", and the scheduler's jobs show a message in its
// attempt and each of its recipients "waiting" or "active", as its jobs
// are (queue.StateView).
func (s *Server) stateView() queue.StateView {
	sv := queue.NewStateView(s.now(), s.q.SuspendedQueues())
	if j, ok := s.q.(interface {
		WithJobs(queue.StateView) queue.StateView
	}); ok {
		sv = j.WithJobs(sv)
	}
	return sv
}

// subjectOf reads the Subject header of a stored message (its header
// section only, at most 256 KiB), decoded from RFC 2047. A control
// character or a byte that is not UTF-8 in it is kept (writeJSON
// escapes it): the Subject is the sender's, whatever it holds.
func subjectOf(body []byte) string {
	if len(body) > 256<<10 {
		body = body[:bytes.LastIndexByte(body[:256<<10], '\n')+1] // whole lines only
	}
	var raw string
	if vs := header.Values(body, "Subject"); len(vs) > 0 {
		raw = vs[0]
	}
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(raw); err == nil {
		raw = s
	}
	return strings.TrimSpace(raw)
}

// removeNote is what the removal of m tells the operator beyond its
// having been done, "" when nothing: for a damaged record that was a
// shadow copy kept here, what its primary does about the copy gone.
func removeNote(m *queue.Message) string { return removeNoteNDR(m, false) }

// removeNoteNDR is removeNote of a removal asked with --ndr (ndr): a
// damaged record's envelope does not decode, so no DSN can be made for
// it, and the removal says so rather than let the --ndr pass as
// honoured (rt25c F4).
func removeNoteNDR(m *queue.Message, ndr bool) string {
	n := removeNoteCopy(m)
	if ndr && m != nil && m.State == queue.Damaged && m.DamagedCopyOf == "" { // a copy: its primary delivers it, no DSN is due
		nodsn := "no DSN was made: the record is damaged and its envelope (sender, recipients) does not decode; " +
			"tell the sender another way (umbra message export wrote its body, if it was exported)"
		if n == "" {
			return nodsn
		}
		return n + "; " + nodsn
	}
	if nullSenderNDR(m, ndr) {
		if n == "" {
			return noDSNNullSender
		}
		return n + "; " + noDSNNullSender
	}
	return n
}

// noDSNReason is why remove --ndr (ndr) of m sends no DSN, as a bulk
// removal by filter counts it (BulkResult.NoDSN); "" when one is sent
// (or none was asked for).
func noDSNReason(m *queue.Message, ndr bool) string {
	switch {
	case ndr && m != nil && m.State == queue.Damaged && m.DamagedCopyOf == "":
		return "the record is damaged and its envelope (sender, recipients) does not decode"
	case nullSenderNDR(m, ndr):
		return "the message has the null sender (a DSN or report itself), and no DSN goes to <>"
	}
	return ""
}

// noDSNNullSender is what remove --ndr says of a message with the null
// sender: removed, and no DSN made, as none goes to <> (RFC 3461 §6.2,
// RFC 5321 §4.5.5: a DSN about a DSN would loop).
const noDSNNullSender = "no DSN was sent: the message has the null sender (a DSN or report itself), and no DSN goes to <>"

// nullSenderNDR reports whether remove --ndr of m makes no DSN because
// m has the null sender (a damaged record, whose envelope does not
// decode, is said so by its own note).
func nullSenderNDR(m *queue.Message, ndr bool) bool {
	return ndr && m != nil && m.State != queue.Damaged && m.From == ""
}

// removeNoteCopy is removeNote's note of a damaged shadow copy.
func removeNoteCopy(m *queue.Message) string {
	if m == nil || m.State != queue.Damaged || m.DamagedCopyOf == "" {
		return ""
	}
	return fmt.Sprintf("it was a shadow copy of a message of %s, set aside here as damaged: %s is told (at its next holder probe, "+
		"if it was not already), holds the message as its only copy and copies it again; nothing of the message is lost by this removal",
		m.DamagedCopyOf, m.DamagedCopyOf)
}

// MaxListLimit is the most messages one listing (GET /v1/messages,
// umbra message list) returns (rt20d-F2): the answer is built in the
// daemon's memory, about 2 KiB a message while it is encoded, so a
// listing of a whole large queue (100,000 messages: 211 MiB of heap,
// eight at once 2.7 GB) is refused; a request may ask for one more
// (limit=10001), as the CLI does to tell whether more match.
const MaxListLimit = 10_000

// listLimitError is the refusal of a listing's limit parameter: not a
// positive count, or above MaxListLimit+1; "" for one answered (none
// given: 1,000).
func listLimitError(v string) string {
	if v == "" {
		return ""
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n <= 0:
		return fmt.Sprintf("limit must be a positive count of at most %d: %s", MaxListLimit, queue.QuoteShown(v))
	case n > MaxListLimit+1:
		return fmt.Sprintf("limit %d is above the most one listing returns, %d messages: narrow the filter (queue, state, domain, older_than, from, to)", n, MaxListLimit)
	}
	return ""
}
