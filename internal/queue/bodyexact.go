package queue

import (
	"errors"
	"strings"
)

// ErrBodyUnreadable is wrapped by every error of reading a message's
// stored content (its spool file missing, shorter than its record, or
// failing to read): a consumer that gets it has not got the message and
// must not pass what it read for it.
var ErrBodyUnreadable = errors.New("message content unreadable")

// ErrSpoolShort is a spool file that ended before the length its record
// names (it was cut while queued or while it was read).
var ErrSpoolShort = errors.New("spool file shorter than its record")

// unreadablePrefix starts the reply of a recipient deferred because the
// content could not be read.
const unreadablePrefix = "451 4.3.0 message content unreadable"

// UnreadableReply is the result reply of a recipient whose delivery
// failed because the content could not be read (err wraps
// ErrBodyUnreadable, or is the reason).
func UnreadableReply(err error) string {
	return unreadablePrefix + ": " + strings.TrimPrefix(err.Error(), ErrBodyUnreadable.Error()+": ")
}
