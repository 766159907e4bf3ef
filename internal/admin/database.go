package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"umbra/internal/backpressure"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// Backuper copies the running transport database (queue.Store.Backup).
type Backuper interface {
	Backup(w io.Writer, size func(int64)) (int64, error)
}

// OptionsBackuper is a Backuper that takes options (queue.Store.BackupWith):
// a backup that leaves out the bodies whose spool file is unreadable.
type OptionsBackuper interface {
	BackupWith(w io.Writer, o queue.BackupOptions, size func(int64)) (int64, error)
}

// headerUnreadable carries, as JSON, the bodies a backup with
// skip_unreadable left out (queue.UnreadableBody), before the copy.
const headerUnreadable = "Umbra-Unreadable-Bodies"

// SetDatabase gives the API the transport database for backups.
func (s *Server) SetDatabase(db Backuper) { s.db = db }

// backup streams a consistent copy of the database (GET /v1/db/backup):
// the length first (Content-Length), so that the client tells a
// complete copy from a cut one. The file is written by the client
// (queue.SaveBackup), as the operator who asked, where it asked.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if s.db == nil {
		fail(w, http.StatusNotFound, "no transport database")
		return
	}
	started := false
	var total int64 = -1
	stall := s.backupStall
	if stall <= 0 {
		stall = backupStallDefault
	}
	dw := deadlineWriter{w: w, rc: http.NewResponseController(w), stall: stall}
	size := func(size int64) {
		total = size
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		started = true
	}
	var n int64
	var err error
	var skipped []queue.UnreadableBody
	if ob, ok := s.db.(OptionsBackuper); ok && r.URL.Query().Get("skip_unreadable") == "1" {
		n, err = ob.BackupWith(dw, queue.BackupOptions{SkipUnreadable: true, Unreadable: func(u []queue.UnreadableBody) {
			skipped = u
			if j, jerr := json.Marshal(textBytes(u)); jerr == nil {
				w.Header().Set(headerUnreadable, string(jsonsafe.Escape(j)))
			}
		}}, size)
	} else {
		n, err = s.db.Backup(dw, size)
	}
	if err != nil && !started {
		failErr(w, http.StatusInternalServerError, err)
	}
	// The daemon knows what it handed to the socket, not what the client
	// kept: a complete copy is "sent", never "ok".
	// The number is the database's snapshot the daemon sent; the client
	// marks and seals the copy it writes (queue.SaveBackup), so the
	// file is larger (rt20d-F6: 298725376 bytes sent, a file of
	// 343781376): the line says which it is.
	sent := fmt.Sprintf("snapshot of %d bytes sent whole", total)
	if n != total {
		sent = fmt.Sprintf("snapshot of %d bytes, %d sent", total, n)
	}
	action := "database backup (" + sent + "; the file the client writes is larger by the backup's mark and checksums: not the file's size)"
	if total < 0 { // refused before its length was known: nothing sent
		action = "database backup (nothing sent)"
	}
	if len(skipped) > 0 {
		left := fmt.Sprintf("%d bodies left out, their spool files unreadable", len(skipped))
		if len(skipped) == 1 { // a count's sentence agrees with it (rt33c F8)
			left = "1 body left out, its spool file unreadable"
		}
		action = fmt.Sprintf("database backup (%s, %s; the file the client writes is larger by the backup's mark and checksums: not the file's size)", sent, left)
	}
	switch {
	case err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)):
		// The command closed the connection before the end: its file
		// failed (it says so in a line of its own: backupFailed), or it
		// was interrupted. Not a failure of the daemon's.
		s.auditAs(r, action, nil, "", "failed: the command stopped reading and closed the connection (its own error says why)")
	case err != nil:
		s.auditAs(r, action, nil, "", "failed: "+err.Error())
	case n != total:
		s.auditAs(r, action, nil, "", "incomplete")
	case r.Context().Err() != nil:
		s.auditAs(r, action, nil, "", "sent, but the client went away: it may not have read it all")
	default:
		s.auditAs(r, action, nil, "", "sent")
	}
}

// backupStallDefault bounds each write of a backup to its client: a
// client that stops reading (SIGSTOP) is cut off after it, so that the
// handler and the open snapshot file (its disk space) are not held
// forever. A reading client, however slow, is never cut off.
const backupStallDefault = 2 * time.Minute

// deadlineWriter sets a write deadline before each write.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.stall)) // not every writer has deadlines (httptest)
	return d.w.Write(p)
}

// Backup asks the daemon for a copy of its transport database and saves
// it as path (queue.SaveBackup: fsync'd, marked as a backup, never over
// an existing file). It returns the backup's size.
func (c *Client) Backup(path string) (int64, error) {
	return c.BackupContext(context.Background(), path)
}

// BackupContext is Backup ended by ctx: a cancelled backup (the CLI
// cancels on SIGINT, SIGTERM and SIGHUP) leaves no file behind.
func (c *Client) BackupContext(ctx context.Context, path string) (int64, error) {
	n, _, err := c.BackupWith(ctx, path, false)
	return n, err
}

// BackupWith is BackupContext that, with skipUnreadable, has the daemon
// leave out the bodies whose spool file is unreadable instead of
// refusing: they are returned, and the backup holds those messages
// without their body (queue.BackupOptions).
func (c *Client) BackupWith(ctx context.Context, path string, skipUnreadable bool) (int64, []queue.UnreadableBody, error) {
	return c.BackupIn(ctx, path, skipUnreadable, queue.SaveOptions{})
}

// BackupIn is BackupWith with o for path's directory as the backup
// holds it open (queue.SaveBackupIn): the CLI refuses the spool, a
// Maildir tree and the pickup directory there, by device and inode, and
// is told the partial copies of killed backups removed there.
func (c *Client) BackupIn(ctx context.Context, path string, skipUnreadable bool, o queue.SaveOptions) (int64, []queue.UnreadableBody, error) {
	// A file that cannot be written is refused before the daemon
	// copies the database for nothing.
	if err := queue.CheckBackupTarget(path); err != nil {
		return 0, nil, err
	}
	hc := *c.http
	hc.Timeout = 0 // a large database takes as long as it takes
	url := "http://umbra/v1/db/backup"
	if skipUnreadable {
		url += "?skip_unreadable=1"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := sendTraced(&hc, req)
	if err != nil && ctx.Err() == nil {
		return 0, nil, c.transportErr(err, "the backup", "no file was written")
	}
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, c.apiError(resp, "GET", "/v1/db/backup")
	}
	var skipped []queue.UnreadableBody
	if h := resp.Header.Get(headerUnreadable); h != "" {
		if err := json.Unmarshal([]byte(h), &skipped); err != nil {
			return 0, nil, fmt.Errorf("backup: the daemon's list of bodies left out: %w; no file was written", err)
		}
	}
	var fileErr error // the file's own failure (a full disk): the daemon is not to blame
	n, err := queue.SaveBackupIn(path, o, func(w io.Writer) (int64, error) {
		n, err := io.Copy(&failedWriter{w: w, err: &fileErr}, resp.Body)
		if fileErr != nil {
			// The copy stopped because the file could not be written:
			// SaveBackup names the file as given and the cause, and the
			// daemon is told why the command stopped reading.
			return n, fileErr
		}
		if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
			err = fmt.Errorf("the copy ended after %d of %d bytes", n, resp.ContentLength)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("the copy ended after %d of %d bytes", n, resp.ContentLength)
		}
		if err != nil && ctx.Err() == nil {
			// The daemon went away, or dropped the copy.
			err = c.transportErr(err, "the backup", "no file was written")
		}
		return n, err
	})
	if fileErr != nil {
		resp.Body.Close()
		c.backupFailed(err)
	}
	return n, skipped, err
}

// failedWriter is a writer that keeps its first error in *err, so that
// a copy tells the failure of its file from that of its source.
type failedWriter struct {
	w   io.Writer
	err *error
}

func (f *failedWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && *f.err == nil {
		*f.err = err
	}
	return n, err
}

// backupFailed tells the daemon why the command stopped reading a
// backup (POST /v1/db/backup/failed): its audit has the command's
// reason beside its own line of a copy cut short. Best effort: a daemon
// that does not answer changes nothing about the command's error.
func (c *Client) backupFailed(err error) {
	_ = c.do("POST", "/v1/db/backup/failed", url.Values{"error": {err.Error()}}, nil)
}

// backupFailed is the audit line of a backup the command could not keep
// (Client.backupFailed): the command's own error, as it said it.
func (s *Server) backupFailed(w http.ResponseWriter, r *http.Request) {
	msg := r.URL.Query().Get("error")
	if msg == "" {
		fail(w, http.StatusBadRequest, "error= with the command's error is needed")
		return
	}
	if len(msg) > 1024 {
		msg = msg[:1024] + "…"
	}
	s.auditAs(r, "database backup not kept by the command", nil, "", "failed at the command: "+msg)
	reply(w, map[string]string{"noted": "yes"}, nil)
}

// SetBackPressure gives the API the back pressure monitor's state.
func (s *Server) SetBackPressure(state func() backpressure.State) { s.pressure = state }

// BackPressure asks for the back pressure level (GET /v1/backpressure).
func (c *Client) BackPressure() (backpressure.State, error) {
	var st backpressure.State
	err := c.do("GET", "/v1/backpressure", nil, &st)
	return st, err
}

func (s *Server) backPressure(w http.ResponseWriter, r *http.Request) {
	if s.pressure == nil {
		fail(w, http.StatusNotFound, "back pressure is off (back_pressure.enabled: false)")
		return
	}
	reply(w, s.pressure(), nil)
}
