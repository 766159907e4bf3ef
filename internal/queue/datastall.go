package queue

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// A transaction stalled in the envelope or the message data, or a
// session in its opening.
//
// A next hop that accepted the envelope (RCPT 250) and then stopped
// answering — no 354 to DATA, no progress in the body, no reply to the
// final dot — keeps its attempt running up to command_timeout or
// data_timeout (minutes). A delay notice made meanwhile reported its
// recipients as "no host has replied yet", Status 4.4.1, of a host that
// had replied to everything up to the data. The deliverer marks the
// recipients of a transaction with its host (InEnvelope: MAIL and RCPT
// went; InMessageData: the host accepted them and DATA went); a notice
// made while they are in it says that the host stopped answering
// during the envelope or the message data, and for how long so far, Status
// 4.4.2 (the connection was made and the transaction not finished, RFC
// 3463), with no Diagnostic-Code: no host gave that reply. The note is
// the DSN's alone: the record never holds it. The same for a next hop
// that accepted the connection and does not answer a step of the
// session's opening (InOpening: the greeting, EHLO, STARTTLS).

// dataPhase is where a recipient's transaction is: in phase (the
// envelope, the message data) with host, since — or, its reply set,
// out of it with host's refusal of its RCPT.
type dataPhase struct {
	host, phase string
	since       time.Time
	// reply: host answered the recipient's RCPT with it, a refusal, and
	// the recipient left the transaction (LeftTransaction): no phase.
	reply string
	// mark is the mark that set it (inPhase), which its done ends: since
	// moves with each reply host gives (HostReplied), the mark stays.
	mark uint64
}

// phaseMarks numbers the marks inPhase makes.
var phaseMarks atomic.Uint64

// The phases of a transaction a notice names.
const (
	phaseOpening  = "the session's opening"
	phaseEnvelope = "the envelope (MAIL, RCPT)"
	phaseData     = "the message data"
)

// InEnvelope marks rcpts of the job ctx carries as in the envelope of
// a transaction with host (MAIL and their RCPT went, no reply settled
// them yet), until done is called; InMessageData takes over for those
// the host accepts. Outside a job of the manager it does nothing.
func InEnvelope(ctx context.Context, rcpts []int, host string) (done func()) {
	return inPhase(ctx, rcpts, host, phaseEnvelope)
}

// InOpening marks rcpts of the job ctx carries as waiting on host in a
// step of the session's opening (stage: "greeting", "reply to EHLO",
// "STARTTLS": the connection was accepted), until done is called or
// another mark takes over: a delay notice meanwhile says that host
// stopped answering during the session's opening, at that step, and
// for how long — not "no host has replied yet" of a host that took the
// connection. Outside a job of the manager it does nothing.
func InOpening(ctx context.Context, rcpts []int, host, stage string) (done func()) {
	return inPhase(ctx, rcpts, host, phaseOpening+" ("+stage+")")
}

// InMessageData marks rcpts of the job ctx carries as in the message
// data of a transaction with host (the next hop accepted them and DATA
// went), until done is called. Outside a job of the manager it does
// nothing.
func InMessageData(ctx context.Context, rcpts []int, host string) (done func()) {
	return inPhase(ctx, rcpts, host, phaseData)
}

// LeftTransaction ends the marks of rcpts of the job ctx carries: the
// next hop answered their RCPT with a refusal, and they are in no phase
// of the transaction the others go on with — a notice does not say the
// host stopped answering them. replies[k] is host's reply to rcpts[k]'s
// RCPT, as the job's result will hold it: a notice made before the job
// reports quotes it, naming host (that host replied: not "no host has
// replied yet"); a refusal for good (5xx) leaves it out of the notice,
// which lists recipients umbra retries; "" is no reply known (the mark
// goes). Outside a job of the manager it does nothing.
func LeftTransaction(ctx context.Context, host string, rcpts []int, replies []string) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil || len(rcpts) == 0 {
		return
	}
	a := j.a
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, i := range rcpts {
		if k < len(replies) && replies[k] != "" {
			if a.inData == nil {
				a.inData = map[int]dataPhase{}
			}
			a.inData[i] = dataPhase{host: host, reply: replies[k]}
			continue
		}
		delete(a.inData, i)
	}
}

// HostReplied notes that host answered a command of the transaction
// of rcpts, of the job ctx carries (MAIL, an RCPT of the envelope,
// pipelined or not): those of rcpts in a phase with host wait on it
// from now, not from the phase's start — "no reply since T" and a
// notice's "no reply for N s" are the time since host's last reply,
// not since the envelope began of a host answering an RCPT every few
// seconds. rcpts only: another job of the message on another session
// to that host (two domains, one MX) waits on its own session's
// replies. Outside a job of the manager it does nothing.
func HostReplied(ctx context.Context, host string, rcpts []int) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil || len(rcpts) == 0 {
		return
	}
	a := j.a
	now := j.q.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, i := range rcpts {
		if p, ok := a.inData[i]; ok && p.phase != "" && p.host == host && p.since.Before(now) {
			p.since = now
			a.inData[i] = p
		}
	}
}

func inPhase(ctx context.Context, rcpts []int, host, phase string) (done func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil || len(rcpts) == 0 {
		return func() {}
	}
	a := j.a
	p := dataPhase{host: host, phase: phase, since: j.q.clk.Now(), mark: phaseMarks.Add(1)}
	a.mu.Lock()
	if a.inData == nil {
		a.inData = map[int]dataPhase{}
	}
	for _, i := range rcpts {
		a.inData[i] = p
	}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, i := range rcpts {
			if a.inData[i].mark == p.mark {
				delete(a.inData, i)
			}
		}
	}
}

// dataStallText is in every dataStallNote, after its host.
const dataStallText = " stopped answering during "

// dataStallNote is the reply a delay notice reports for a recipient
// whose transaction with host has been in phase for d.
func dataStallNote(host, phase string, d time.Duration) string {
	return "451 4.4.2 " + host + dataStallText + phase + ": no reply for " + strconv.FormatInt(int64(d/time.Second), 10) + " s (the attempt is under way)"
}

// isDataStallNote reports whether reply is one dataStallNote made.
func isDataStallNote(reply string) bool {
	return strings.HasPrefix(reply, "451 4.4.2 ") && strings.Contains(reply, dataStallText) &&
		strings.HasSuffix(reply, " s (the attempt is under way)")
}

// dataStallWords is what a DSN's text part says of a dataStallNote:
// its words with host in place of the note's (an inside server is not
// named to an outside sender: notAttempted).
func dataStallWords(reply, host string) string {
	_, rest, _ := strings.Cut(reply, dataStallText)
	return host + dataStallText + rest
}
