package delivery

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// Size limits. A max_message_size an operator configures — a receive
// connector's, a send connector's, a site link's, a routing group
// connector's — is a limit on the message as umbra received it from its
// sender: the trace field umbra writes in front of every message it
// receives (smtp session, pickup) is not counted, nor those of the
// organisation's earlier hops (traceLen), nor what the receiving
// sessions added to the content (queue.Message.Grown), so a message a sender sent at
// exactly a limit passes it at every hub (inclusive, RFC 1870). The next
// hop's own SIZE (EHLO) is a limit on what umbra sends, which includes
// that trace field and the organisation id line: MAIL carries SIZE= of
// what is sent, and a message over a fixed limit the hop declared is not
// sent to it at all (hopSizeRefusal: 552 5.3.4 naming the limit and the
// size, the hop's refusal of the content — the next host is tried, and
// when every host refuses the recipients fail quoting it). SIZE with no
// number, or 0, declares no limit. A hub of the organisation's SIZE is
// its max_message_size: a relay to it, and a shadow copy (receipt.go
// copyLimitSize), is held to it without umbra's own fields (withHeldSize).

// maxOwnTrace bounds the trace field umbra writes (a HELO name of at
// most 255 bytes, the host name, the queue id, one recipient and the
// date: well under 1 KiB); a first field longer than this is not
// umbra's and is counted.
const maxOwnTrace = 2048

// ownTraceLen is the length of the trace field umbra wrote in front of
// a stored body ("Received: from … by host (umbra) with …", the first
// field of every message umbra receives), 0 when the body does not start
// with one. Only the first field is looked at: a sender cannot put a
// field in front of it, so no field of the sender's is ever discounted.
func ownTraceLen(body []byte) int {
	if !bytes.HasPrefix(body, []byte("Received: from ")) {
		return 0
	}
	end := 0
	for {
		i := bytes.IndexByte(body[end:], '\n')
		if i < 0 || end+i+1 > maxOwnTrace {
			return 0
		}
		end += i + 1
		if end == len(body) || body[end] != ' ' && body[end] != '\t' {
			break
		}
	}
	if !bytes.Contains(body[:end], []byte(" (umbra) with ")) {
		return 0
	}
	return end
}

// orgTraceAllowance bounds the trace fields of the organisation's
// earlier hops not counted: what a receive connector lets an
// authenticated transport server exceed its limits by (package smtp,
// transportAllowance), so that a message one hub took at a limit is not
// refused for it by the next.
const orgTraceAllowance = 64 << 10

// traceLen is the length of umbra's trace fields at the top of a stored
// body: this server's own (ownTraceLen) and, for a message that came
// from a server of the organisation (fromOrg), the run of umbra's trace
// fields after it that the earlier hops wrote, in all at most
// orgTraceAllowance. For mail from anyone else only the first field is
// umbra's: a field in umbra's form after it is the sender's, and counts.
func traceLen(head []byte, fromOrg bool) int {
	n := ownTraceLen(head)
	for n > 0 && fromOrg {
		k := ownTraceLen(head[n:])
		if k == 0 || n+k > orgTraceAllowance {
			break
		}
		n += k
	}
	return n
}

// fromOrg reports whether m came from a server of the organisation (its
// client address is one of the topology's servers').
func fromOrg(st *state, m *queue.Message) bool {
	return st.cfg.Topology != nil && messageOrigin(st.cfg.Topology, m) != ""
}

// limitSize is the size of m held to configured size limits: the stored
// body's (m.Size) without umbra's own bytes (ownBytes), found in head
// (the stored body, or its part in memory).
func limitSize(st *state, m *queue.Message, head []byte) int64 {
	return m.Size - ownBytes(st, m, head, m.Size)
}

// ownBytes is how much of m's stored body (size bytes, head its start)
// umbra's servers wrote, not its sender: the trace fields (traceLen)
// and what the receiving session added to the content (m.Grown: the
// empty line after a header section that had none and the line break
// after a last header line sent without one, a CR before each bare LF,
// its Authentication-Results field, a check's edits). A record that
// does not know Grown (written by an older release) has only the empty
// line counted off, where the stored body shows it (sealedLen). It is
// never more than size (Grown as a hub of the organisation said it,
// orgid.GrownHeader, is not checked against the body): a message is
// never held to less than nothing.
func ownBytes(st *state, m *queue.Message, head []byte, size int64) int64 {
	n := traceLen(head, fromOrg(st, m))
	if m.GrownKnown {
		return min(int64(n)+max(m.Grown, 0), size)
	}
	return min(int64(n+sealedLen(head[n:], int64(len(head)) == size)), size)
}

// sealedLen is the length of the empty line the receiving session puts
// after a header section that has none (package smtp, sealHeadSection),
// where content — the stored body after umbra's trace fields — shows it:
// content that is a header section alone ending with its empty line
// (whole: content is all of the body), or content that starts with the
// empty line (no header section: the message's first line was no
// field). That line is umbra's, as its trace field is, so a message its
// sender sent at exactly a limit passes it. A sender that wrote that
// empty line itself is not told apart: its message is held to a limit
// two bytes short of its own size, which no receive connector of the
// same limit let through at more than that limit.
func sealedLen(content []byte, whole bool) int {
	switch {
	case bytes.HasPrefix(content, []byte("\r\n")):
		return 2
	case whole && bytes.HasSuffix(content, []byte("\r\n\r\n")) && bytes.Index(content, []byte("\r\n\r\n")) == len(content)-4:
		return 2
	}
	return 0
}

// maxSealed is the most sealedLen takes off.
const maxSealed = 2

// planSize is limitSize when the body is not at hand (Plan): the most
// the trace fields can be is taken off (and what the receiving session
// added, m.Grown, or the empty line it may have added), so that Plan never answers a
// recipient for its size that Deliver would send; Deliver, with the
// body, decides exactly (a recipient Plan gave a destination may still
// fail there for its size, without a connection).
func planSize(st *state, m *queue.Message) int64 {
	added := int64(maxSealed)
	if m.GrownKnown {
		added = max(m.Grown, 0)
	}
	most := maxOwnTrace + added
	if fromOrg(st, m) {
		most = orgTraceAllowance + added
	}
	return max(m.Size-most, 0)
}

// heldSizeKey carries, for a relay to a transport server of the
// organisation (withHeldSize), the size its SIZE holds the message to.
type heldSizeKey struct{}

// withHeldSize: the next hop is a transport server of the organisation,
// whose SIZE is its max_message_size — the limit it holds a sender's
// message to, letting the organisation's servers exceed it by the header
// fields umbra's hops add (smtp transportsize.go). hopSizeRefusal then
// holds size (limitSize: without umbra's trace fields, nor the
// organisation id lines) to it, not the bytes sent: a message one hub
// took at its limit is relayed to a hub of the same limit, not refused
// here for umbra's own fields.
func withHeldSize(ctx context.Context, size int64) context.Context {
	return context.WithValue(ctx, heldSizeKey{}, size)
}

// hopSizeRefusal is the reply with which a message of parts (then the
// tail of a spooled body in ctx) is not sent to the next hop c: its size
// as sent (what MAIL's SIZE= says) is over the fixed limit c declared in
// its EHLO reply (RFC 1870 §4: the client should not send it). "" when
// it is not, or c declared none (no SIZE, SIZE with no number, SIZE 0).
// Where the size held to the limit is not the size stored (the bytes
// sent, which the header fields a hop adds or drops change; a hub's
// held without umbra's trace fields, withHeldSize), the stored size is named beside it — the
// size the log, message list and the DSN give —, as the refusals
// decided without a connection name it (sizeSaid).
func hopSizeRefusal(ctx context.Context, c *smtp.Client, hop string, parts [][]byte, stored int64) string {
	limit, ok := c.MaxMessageSize()
	if !ok || limit <= 0 {
		return ""
	}
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	if t, ok := tailOf(ctx); ok {
		n += t.Len()
	}
	held, isHeld := ctx.Value(heldSizeKey{}).(int64)
	if isHeld {
		n = held
	}
	if n <= int64(limit) {
		return ""
	}
	reply := fmt.Sprintf("552 5.3.4 %s takes messages of at most %d bytes (its SIZE), this one is %d bytes", hop, limit, n)
	switch {
	case isHeld:
		return sizeSaid(reply, n, stored)
	case stored > 0 && n != stored:
		return fmt.Sprintf("%s (the size sent; %d bytes as stored, the size the log and umbra message list give)", reply, stored)
	}
	return reply
}

// sizeSaid is a refusal for the message's size decided without a
// connection (RT-7's routing NDR, "552 5.3.4 message of N bytes exceeds
// the limit …", and a send connector's max_message_size) with the size stored said
// beside it: the limit is held to the message as its sender sent it
// (limitSize, planSize: without the trace fields umbra's servers added),
// while the log, message list and the DSN's own size give the size
// stored, with them, so the bounce named 4308 bytes where the log said
// 4460 (rt32c). Other refusals are returned as they are.
func sizeSaid(ndr string, held, stored int64) string {
	if !strings.HasPrefix(ndr, "552 5.3.4 ") || held >= stored {
		return ndr
	}
	return fmt.Sprintf("%s (the size held to limits: the message as sent, without the trace header fields umbra's servers added; "+
		"%d bytes as stored, the size the log and umbra message list give)", ndr, stored)
}
