package smtp

import (
	"errors"
	"fmt"
)

// wholeCopyGroup names the commands of a push whose one write carries
// the whole copy (pushOneTrip, PushBatchMarked).
const wholeCopyGroup = "MAIL, RCPT, BDAT LAST"

// lostAfterWholeWrite is the error of a reply to cmd that could not be
// read after one write carried the whole copy — MAIL, every RCPT and
// BDAT … LAST with the data — first: it is the first reply of the group
// (rt44 shadowrcpt3 F2). err is replyErr's: "reply to MAIL: EOF" said a
// session lost at MAIL, which holds nothing (README "Shadow on receipt"),
// while this one went on after the copy's data was written and may have
// left the copy stored there; so it reads "no reply after the whole copy
// was written (MAIL, RCPT, BDAT LAST): EOF" ("no reply to BDAT after …"
// for a later one), the cause kept (errors.Is sees it). A reply, and a
// reply that came but could not be taken (malformed, past a bound, a
// stray 3xx: the server answered), are returned as they are.
func lostAfterWholeWrite(err error, cmd string, first bool) error {
	if err == nil || isReply(err) || badReply(err) || errors.Is(err, errUnexpectedReply) || errors.Is(err, errMalformedReply) {
		return err
	}
	cause := errors.Unwrap(err) // replyTo's "reply to CMD: " off
	if cause == nil {
		cause = err
	}
	if first {
		return fmt.Errorf("no reply after the whole copy was written (%s): %w", wholeCopyGroup, cause)
	}
	return fmt.Errorf("no reply to %s after the whole copy was written (%s): %w", cmd, wholeCopyGroup, cause)
}
