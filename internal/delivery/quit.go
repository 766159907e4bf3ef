package delivery

import (
	"context"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// quit ends c with its bounded QUIT (smtp.Client.QuitBounded: the 221
// awaited briefly, never a command timeout; no QUIT at all on a session
// out of step; the connection closed either way), the wait the next
// hop's time for ctx's message (queue.AwaitingPeer: a crash then does
// not count toward the poison queue; nothing for a context that is no
// job's). Every session this server opens ends so when it ends in step.
// The result is QuitBounded's: nil only when the server answered, and
// an error says nothing of whether it read the QUIT — no caller counts
// on either.
func quit(ctx context.Context, c *smtp.Client) error {
	done := queue.AwaitingPeer(ctx)
	defer done()
	return c.QuitBounded()
}
