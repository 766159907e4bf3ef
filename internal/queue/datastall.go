package queue

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// A transaction stalled in the message data.
//
// A next hop that accepted the envelope (RCPT 250) and then stopped
// answering — no 354 to DATA, no progress in the body, no reply to the
// final dot — keeps its attempt running up to command_timeout or
// data_timeout (minutes). A delay notice made meanwhile reported its
// recipients as "no host has replied yet", Status 4.4.1, of a host that
// had replied to everything up to the data. The deliverer marks the
// recipients of a transaction whose data began (InMessageData); a
// notice made while they are in it says that the host stopped
// answering during the message data, and for how long so far, Status
// 4.4.2 (the connection was made and the transaction not finished, RFC
// 3463), with no Diagnostic-Code: no host gave that reply. The note is
// the DSN's alone: the record never holds it.

// dataPhase is where a recipient's transaction is: in the data, with
// host, since.
type dataPhase struct {
	host  string
	since time.Time
}

// InMessageData marks rcpts of the job ctx carries as in the message
// data of a transaction with host (the next hop accepted them and DATA
// went), until done is called. Outside a job of the manager it does
// nothing.
func InMessageData(ctx context.Context, rcpts []int, host string) (done func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil || len(rcpts) == 0 {
		return func() {}
	}
	a := j.a
	p := dataPhase{host: host, since: j.q.clk.Now()}
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
			if a.inData[i] == p {
				delete(a.inData, i)
			}
		}
	}
}

// dataStallText is in every dataStallNote, after its host.
const dataStallText = " stopped answering during the message data: no reply for "

// dataStallNote is the reply a delay notice reports for a recipient
// whose transaction with host has been in the message data for d.
func dataStallNote(host string, d time.Duration) string {
	return "451 4.4.2 " + host + dataStallText + strconv.FormatInt(int64(d/time.Second), 10) + " s (the attempt is under way)"
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
