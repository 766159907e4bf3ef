package delivery

import (
	"bytes"
	"context"
	"io"

	"umbra/internal/mailbox"
	"umbra/internal/queue"
	"umbra/internal/signing"
	"umbra/internal/smtp"

	gosmtp "github.com/emersion/go-smtp"
)

// Delivering a spooled body (queue.Body, a head in memory and the rest
// in a spool file) without reading it into memory. DeliverBody splits it
// into the part in memory — the head, which holds the whole header
// section, so every header decision (loops, hop count, TLS-Required,
// the organisation id line, trace fields, the signer's fields) works on
// it as on a small body — and the tail, the file's part, which rides
// with the attempt's context to the three places that write content:
// the SMTP/LMTP transaction (DATA in 64 KiB pieces from the file, also
// for shadow sessions), a Maildir file, and the signer's first pass.
// Each opens the file anew, so a retry to another host reads it again.
// A body in memory takes Deliver's path unchanged.

type tailKey struct{}

// withTail makes tail the content that follows the body given to
// Deliver's internals.
func withTail(ctx context.Context, tail queue.Body) context.Context {
	return context.WithValue(ctx, tailKey{}, tail)
}

// tailOf is the spooled content after the in-memory body, if any.
func tailOf(ctx context.Context) (queue.Body, bool) {
	t, ok := ctx.Value(tailKey{}).(queue.Body)
	return t, ok && t.Spooled()
}

// maxHeaderSection bounds the header section DeliverBody brings into
// memory when the head does not hold it all.
const maxHeaderSection = 1 << 20

// DeliverBody implements queue.BodyDeliverer: Deliver for a body that
// may be spooled, streamed from its file.
func (d *Deliverer) DeliverBody(ctx context.Context, m *queue.Message, body queue.Body, rcpts []int) []queue.Result {
	if !body.Spooled() {
		return d.Deliver(ctx, m, body.Head(), rcpts)
	}
	hdr, err := body.ReadHeaderSection(maxHeaderSection)
	if err == nil {
		body, err = body.WithHead(hdr, int64(len(hdr)))
	}
	if err != nil {
		return deferAll(rcpts, "spool", queue.UnreadableReply(err))
	}
	path, off, n := body.File()
	return d.Deliver(withTail(ctx, queue.SpooledBody(nil, path, off, n)), m, body.Head(), rcpts)
}

// openTail opens the tail for one use; close is a no-op without one.
func openTail(ctx context.Context) (r io.Reader, size int64, closeFn func(), err error) {
	t, ok := tailOf(ctx)
	if !ok {
		return nil, 0, func() {}, nil
	}
	rc, err := t.Reader()
	if err != nil {
		return nil, 0, func() {}, err
	}
	return rc, t.Len(), func() { rc.Close() }, nil
}

// sendData is c.SendDataParts, with the tail streamed after the parts.
func sendData(c *smtp.Client, parts [][]byte, tail io.Reader, n int) ([]smtp.DataReply, error) {
	if tail == nil {
		return c.SendDataParts(parts, n)
	}
	return c.SendDataStream(parts, tail, n)
}

// pipeline is c.Pipeline, with the tail streamed after the parts.
func pipeline(c *smtp.Client, from string, opts *gosmtp.MailOptions, rcpts []smtp.Recipient, parts [][]byte, tail io.Reader, lmtp bool) *smtp.Pipelined {
	if tail == nil {
		return c.Pipeline(from, opts, rcpts, parts, lmtp)
	}
	return c.PipelineStream(from, opts, rcpts, parts, tail, lmtp)
}

// maildirWrite is the Maildir delivery of body followed by the tail.
func (d *Deliverer) maildirWrite(ctx context.Context, st *state, local, domain, from, name string, body []byte, o mailbox.Options) error {
	tail, _, closeTail, err := openTail(ctx)
	if err != nil {
		return err
	}
	defer closeTail()
	return st.maildir.DeliverWith(local, domain, from, name, body, tail, o)
}

// signOutboundTail is signOutbound for body followed by the tail: the
// signer reads the whole content once (hashes), and the fields go in
// front of body; the transaction then reads the tail again to send it.
func (d *Deliverer) signOutboundTail(ctx context.Context, st *state, m *queue.Message, body []byte) []byte {
	t, ok := tailOf(ctx)
	if !ok || st.cfg.Signer == nil {
		return d.signOutbound(st, m, body)
	}
	h, _ := queue.MemBody(body).ReadHeaderSection(len(body)) // body holds the header section (DeliverBody)
	r, err := t.Reader()
	if err != nil {
		d.noteSigning(m, signing.Result{}, err)
		return body
	}
	prefix, res, err := st.cfg.Signer.SignOriginStream(h, io.MultiReader(bytes.NewReader(body), r), m.From, m.Internal)
	r.Close()
	d.noteSigning(m, res, err)
	if err != nil || len(prefix) == 0 {
		return body
	}
	out := make([]byte, 0, len(prefix)+len(body))
	return append(append(out, prefix...), body...)
}
