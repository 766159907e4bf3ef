package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"umbra/internal/queue"
)

// SpoolView is where a spooled message's content lives: its spool file
// (the name in <data_dir>/spool), the part of it the record names, and
// whether the file holds that part — so an operator sees a damaged body
// before an attempt (or a backup) trips over it.
type SpoolView struct {
	File    string `json:"file"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`         // the recorded length of the file's part
	Present bool   `json:"present"`        // the file exists
	Size    int64  `json:"size,omitempty"` // the file's size when present
	Whole   bool   `json:"whole"`          // present and at least offset+length bytes
	Problem string `json:"problem,omitempty"`
}

// spoolView describes b's spool file; nil for a body held in the
// database.
func spoolView(b queue.Body) *SpoolView {
	if !b.Spooled() {
		return nil
	}
	path, off, n := b.File()
	v := &SpoolView{File: filepath.Base(path), Offset: off, Length: n}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.Problem = "spool file missing"
	case err != nil:
		v.Problem = err.Error()
	default:
		v.Present, v.Size = true, fi.Size()
		v.Whole = fi.Size() >= off+n
		if !v.Whole {
			v.Problem = fmt.Sprintf("spool file holds %d bytes, the record names %d from %d", fi.Size(), n, off)
		}
	}
	return v
}

// The export of a message's content (GET /v1/messages/{id}/eml) says its
// length in exportLengthHeader before the content and, in the trailer
// exportErrorTrailer, why it stopped when it could not send it whole (a
// spool file cut while it was read): a client never takes a short
// content for the message.
const (
	exportLengthHeader = "Umbra-Content-Length"
	exportErrorTrailer = ExportErrorTrailer
)

// ExportErrorTrailer is the trailer (a header, to an in-process caller
// such as the console) in which an export that stopped short says why.
const ExportErrorTrailer = "Umbra-Export-Error"

// serveExport streams b to w: refused at once (422: the content is
// gone, and no retry brings it back) when its spool file is already
// damaged, else streamed with the trailer.
func serveExport(w http.ResponseWriter, b queue.Body) {
	if err := b.Check(); err != nil {
		fail(w, http.StatusUnprocessableEntity, queue.UnreadableReply(err)[len("451 4.3.0 "):])
		return
	}
	rd, err := b.Reader() // streamed: a spooled body is never whole in memory
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, queue.UnreadableReply(err)[len("451 4.3.0 "):])
		return
	}
	defer rd.Close()
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set(exportLengthHeader, strconv.FormatInt(b.Len(), 10))
	w.Header().Set("Trailer", exportErrorTrailer)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rd); err != nil {
		w.Header().Set(exportErrorTrailer, err.Error())
	}
}

// ErrExportIncomplete is an export that did not get the whole content.
var ErrExportIncomplete = errors.New("export incomplete")

// Export writes message id's content to w. It fails (ErrExportIncomplete,
// with the daemon's reason) when the content did not arrive whole: the
// caller must then discard what w got (umbra message export writes to a
// temporary file and keeps it only on success).
func (c *Client) Export(id string, w io.Writer) error {
	path := "/v1/messages/" + url.PathEscape(id) + "/eml"
	req, err := http.NewRequest("GET", "http://umbra"+path, nil)
	if err != nil {
		return err
	}
	resp, err := sendTraced(c.http, req)
	if err != nil {
		return c.requestErr(err, "GET", path)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.apiError(resp, "GET", path)
	}
	var fileErr error
	n, err := io.Copy(&failedWriter{w: w, err: &fileErr}, resp.Body)
	if fileErr != nil {
		// w could not be written (a full disk): its own error, which
		// names its file; neither the daemon nor the stream is to blame.
		return fileErr
	}
	if err != nil {
		if cutShort(err) { // the daemon went away, or cut the stream
			err = c.requestErr(err, "GET", path)
		}
		return fmt.Errorf("%w after %d bytes: %v", ErrExportIncomplete, n, err)
	}
	if why := resp.Trailer.Get(exportErrorTrailer); why != "" {
		return fmt.Errorf("%w after %d bytes: %s", ErrExportIncomplete, n, why)
	}
	if want, err := strconv.ParseInt(resp.Header.Get(exportLengthHeader), 10, 64); err == nil && want != n {
		return fmt.Errorf("%w: %d bytes of %d", ErrExportIncomplete, n, want)
	}
	return nil
}
