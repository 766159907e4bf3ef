package pickup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"umbra/internal/queue"
)

// A pickup file larger than Config.SpoolThreshold is not read into
// memory: it is copied, line ends normalised as Parse does (crlfWriter),
// into a spool file of the transport database (queue.Store.NewSpool),
// and only its header section — at most Config.MaxHeaderSize bytes — is
// parsed and edited in memory; the queued message is that edited header
// section followed by the rest of the spool file (queue.Body.WithHead).
// The bytes queued are those of the in-memory path, byte for byte. The
// spool file is made durable before the commit that names it; a commit
// that fails removes it, and one that a crash interrupts leaves an
// orphan that the sweep at the store's next Open removes. The pickup
// file itself stays until the message has been handed on, as on the
// in-memory path.

// BodyQueue is a Queue that stores a spooled body
// (queue.Manager.SubmitKeyedBody).
type BodyQueue interface {
	Queue
	SubmitKeyedBody(ctx context.Context, m *queue.Message, body queue.Body, key string) (prev queue.ID, again bool, err error)
}

// maxHeader is the bound of a pickup file's header section, its empty
// line counted (Config.MaxHeaderSize, 0: defaultMaxHeader): spooled or
// read into memory, one bound.
func (w *Watcher) maxHeader() int {
	if w.cfg.MaxHeaderSize > 0 {
		return w.cfg.MaxHeaderSize
	}
	return defaultMaxHeader
}

// headerOverLimit reports whether the header section of data, a pickup
// file read into memory, is over limit as it is queued: CRLF line ends
// (crlf), with its empty line — the one Parse puts after a file of
// header fields alone counted, and the CRLF of a last line without one —
// as a spooled file's (handleSpooled) and an SMTP client's are counted.
// It normalises no more than limit+1 bytes of data: a section that ends
// within limit normalised ends within limit raw.
func headerOverLimit(data []byte, limit int) bool {
	cut := len(data) > limit+1
	msg := crlf(data[:min(len(data), limit+1)])
	if end := bytes.Index(msg, []byte("\r\n\r\n")); end >= 0 {
		return end+4 > limit
	}
	if cut {
		return true
	}
	n := len(msg) + 2
	if len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")) {
		n += 2
	}
	return n > limit
}

// defaultMaxHeader bounds the header section of a spooled pickup file
// when Config.MaxHeaderSize is 0 (config.DefaultMaxHeaderSize).
const defaultMaxHeader = 1 << 20

// spools reports whether a file of size bytes goes through a spool file.
func (w *Watcher) spools(size int64) bool {
	_, ok := w.cfg.Queue.(BodyQueue)
	return ok && w.cfg.Spool != nil && w.cfg.SpoolThreshold > 0 && size > w.cfg.SpoolThreshold
}

// errRefused marks a file that is wrong, not a failure to queue it.
var errRefused = errors.New("refused")

// handleSpooled submits a large pickup file through a spool file. An
// error wrapping errRefused means the file is bad; any other, that it
// is to be tried again later.
func (w *Watcher) handleSpooled(ctx context.Context, path string) error {
	f, err := queue.OpenRegular(path) // not a symlink's target, never blocking on a FIFO
	if errors.Is(err, queue.ErrNotRegular) {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	max := w.cfg.MaxSize
	if max <= 0 {
		max = 36 << 20 // as readLimited
	}
	sp, err := w.cfg.Spool()
	if err != nil {
		return err
	}
	handed := false
	defer func() {
		if !handed {
			sp.Abort() // removes the file, also after Finish
		}
	}()
	cw := newCRLFWriter(sp)
	sum := sha256.New() // the content read, for its key (fileKey)
	n, err := io.Copy(cw, io.TeeReader(io.LimitReader(f, max+1), sum))
	if err == nil {
		err = cw.Close()
	}
	if err != nil {
		return fmt.Errorf("copying to the spool: %w", err)
	}
	if n > max {
		return fmt.Errorf("%w: larger than %d bytes", errRefused, max)
	}
	body, err := sp.Finish()
	if err != nil {
		return err
	}
	limit := w.maxHeader()
	// The limit holds the header section with its empty line, as the
	// receive side's (package smtp, storedHeaderLen): one Parse puts
	// after a file of header fields alone counts too.
	hdr, err := body.ReadHeaderSection(limit)
	if err != nil {
		return err
	}
	if !bytes.HasSuffix(hdr, []byte("\r\n\r\n")) {
		sealed := len(hdr) + 2 // the empty line Parse puts after them
		if len(hdr) > 0 && !bytes.HasSuffix(hdr, []byte("\r\n")) {
			sealed += 2 // and the CRLF of a last line without one
		}
		switch {
		case len(hdr) >= limit || int64(len(hdr)) == body.Len() && sealed > limit:
			return fmt.Errorf("%w: header section longer than %d bytes (its empty line counted)", errRefused, limit)
		case int64(len(hdr)) != body.Len():
			return fmt.Errorf("%w: no empty line after the header section", errRefused)
		}
		// The whole file is header fields: Parse puts the empty line
		// after them, and the head replaces all of it.
	}
	env, kept, err := Parse(hdr, w.cfg.RcptKey) // kept: the header section as queued, with its empty line
	if err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	id, m, head := w.prepare(path, env, kept)
	full, err := body.WithHead(head, int64(len(hdr)))
	if err != nil {
		return err
	}
	key := fileKey(path, fi, sum.Sum(nil))
	prev, again, err := w.cfg.Queue.(BodyQueue).SubmitKeyedBody(ctx, m, full, key)
	if err != nil {
		return err
	}
	handed = true // the queue's now: named by the record, or removed by it (again)
	w.submitted(ctx, path, key, id, prev, again, m)
	return nil
}

// crlfWriter is crlf as a stream: a bare LF or a bare CR becomes CRLF.
// Close writes a CR held at the end.
type crlfWriter struct {
	w      io.Writer
	buf    []byte
	pendCR bool // the last byte seen was CR, not yet known to be bare
	err    error
}

func newCRLFWriter(w io.Writer) *crlfWriter {
	return &crlfWriter{w: w, buf: make([]byte, 0, 64<<10)}
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if c.err != nil {
			return 0, c.err
		}
		switch {
		case b == '\r':
			if c.pendCR {
				c.put('\r', '\n') // the previous CR was bare
			}
			c.pendCR = true
		case b == '\n':
			c.put('\r', '\n') // after a CR, its pair; else a bare LF
			c.pendCR = false
		default:
			if c.pendCR {
				c.put('\r', '\n')
				c.pendCR = false
			}
			c.buf = append(c.buf, b)
			if len(c.buf) >= cap(c.buf)-2 {
				c.flush()
			}
		}
	}
	return len(p), c.err
}

func (c *crlfWriter) put(a, b byte) {
	c.buf = append(c.buf, a, b)
	if len(c.buf) >= cap(c.buf)-2 {
		c.flush()
	}
}

func (c *crlfWriter) flush() {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
}

// Close writes what is held; it does not close the underlying writer.
func (c *crlfWriter) Close() error {
	if c.pendCR {
		c.put('\r', '\n')
		c.pendCR = false
	}
	c.flush()
	return c.err
}
