package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"umbra/internal/httprefusal"

	"umbra/internal/backpressure"
	"umbra/internal/config"
	"umbra/internal/dumpster"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowid"
	"umbra/internal/tracking"
)

// Queue is what the API needs of the queue manager.
// destinationLister is the scheduler's view of its destinations
// (queue.Manager.Destinations): windows, running and waiting attempts,
// dead destinations and unanswering servers.
type destinationLister interface {
	Destinations() []queue.DestinationInfo
}

// shadowCopyCounter tells held copies from taken-over ones, and gives
// the age of the oldest of either kind (queue.Manager).
type shadowCopyCounter interface {
	ShadowCopiesAged() (map[string]queue.ShadowCopyCount, map[string]time.Duration, error)
}

// takenUnderLister names the database ids each primary's taken-over
// copies were taken over under (queue.Manager).
type takenUnderLister interface {
	ShadowTakenUnder() (map[string][]string, error)
}

// rollbackLister gives the last rollback found per primary (queue.Manager).
type rollbackLister interface {
	ShadowRollbacks() map[string]queue.RollbackNote
}

type Queue interface {
	Queues() ([]queue.QueueInfo, error)
	SuspendQueue(ctx context.Context, name string) error
	ResumeQueue(ctx context.Context, name string) (int, error)
	RetryQueue(ctx context.Context, name string) (int, error)
	RedirectQueue(ctx context.Context, name, target string) (int, error)
	Messages(f queue.MessageFilter) ([]*queue.Message, error)
	Message(id queue.ID) (*queue.Message, error)
	BodyOf(id queue.ID) (queue.Body, error) // read through Reader or Header: never a spooled body whole
	SuspendMessage(ctx context.Context, id queue.ID) error
	ResumeMessage(ctx context.Context, id queue.ID) error
	RemoveMessage(ctx context.Context, id queue.ID, ndr bool) error
	SuspendedQueues() []string // their messages are shown "held"
}

// Tracker searches the message tracking log.
type Tracker interface {
	Search(q tracking.Query) ([]tracking.Entry, error)
}

// Dumpster is what the API needs of the transport dumpster.
type Dumpster interface {
	Summaries() ([]dumpster.Summary, error)
	List(db string, since time.Time, limit int) ([]dumpster.Entry, error)
	Redeliver(ctx context.Context, id, db string, since time.Time) (*queue.Request, dumpster.Outcome, error)
	RedeliverAgo(ctx context.Context, id, db string, ago time.Duration) (*queue.Request, dumpster.Outcome, error)
	Remove(ctx context.Context, sel dumpster.Selection, dryRun bool) ([]dumpster.Entry, error)
}

// Redelivery is the answer to a redelivery request.
type Redelivery struct {
	RequestID   string    `json:"request_id"`
	Database    string    `json:"database"`
	Since       time.Time `json:"since"`
	Started     time.Time `json:"started"`
	Resubmitted int       `json:"resubmitted"`
	// Skipped: copies not put back because they are unreadable (a
	// missing or cut spool file, a record that does not decode or names
	// no recipient); each is logged with its message id.
	Skipped int `json:"skipped_unreadable"`
	Cleared int `json:"duplicate_records_cleared"`
	// Repeated: the request id was carried out before; nothing was done
	// now, and the figures are the first run's.
	Repeated bool `json:"repeated"`
	// Resumed: the request id was begun before and interrupted (a lost
	// connection, a stop); this call finished it, and the figures are
	// the whole request's.
	Resumed bool `json:"resumed"`
}

// DumpsterRemoval is the answer to a removal from the dumpster: the
// copies removed (with dry_run, those that would be), and the ids asked
// for that have no copy (the others were removed).
type DumpsterRemoval struct {
	Removed  []dumpster.Entry `json:"removed"`
	DryRun   bool             `json:"dry_run"`
	NotFound []string         `json:"not_found,omitempty"`
}

// Status is GET /v1/status.
type Status struct {
	Server     string    `json:"server"`
	Role       string    `json:"role"`
	Version    string    `json:"version"`
	DatabaseID string    `json:"database_id"`
	Started    time.Time `json:"started"`
	// ConfigFile is the absolute path of the configuration file the
	// daemon runs (empty: the embedded default); TrackingPath the
	// absolute path of its message tracking log (empty: tracking off)
	// with TrackingMaxFiles rotated files. The CLI's configuration
	// commands (track, route explain) ask for them, so that they read
	// what the running daemon reads, wherever it was started.
	ConfigFile       string `json:"config_file"`
	TrackingPath     string `json:"tracking_path,omitempty"`
	TrackingMaxFiles int    `json:"tracking_max_files,omitempty"`
	// Reload is the state of the last configuration reload (nil: a
	// daemon that does not say, an older release).
	Reload *ReloadState `json:"reload,omitempty"`
}

// ReloadState is the state of the daemon's last configuration reload
// (SIGHUP), as the metrics umbra_config_last_reload_successful and
// umbra_config_restart_would_fail say it, with the parts left to a
// restart named.
type ReloadState struct {
	// Count: reloads tried since the start (a SIGHUP ignored during a
	// stop is none).
	Count int `json:"count"`
	// Time: when the last one ended (nil, and absent from the JSON:
	// none since the start).
	Time *time.Time `json:"time,omitempty"`
	// Result: "none" (none since the start), "ok" or "failed" (the
	// running configuration stayed in force; Error says why).
	Result string `json:"result"`
	// Error and Pending are in the text form of every answer already
	// (TextBytes': a byte written \xNN, a literal \xNN doubled) — a
	// configuration's refusal by its own text rule, a value the loader
	// quoted (%q) escaped once —, which the API writes as it is
	// (text:"as-is"): escaped again, "a\x00b" read "a\\x00b".
	Error string `json:"error,omitempty" text:"as-is"`
	// Pending: the parts of the file last reloaded that the running
	// daemon did not take, which a restart would refuse or change.
	Pending []string `json:"pending,omitempty" text:"as-is"`
	// RestartWouldFail is umbra_config_restart_would_fail: Pending is
	// not empty, or the last reload failed.
	RestartWouldFail bool `json:"restart_would_fail"`
}

// Server serves the API on a Unix socket.
type Server struct {
	lnMu   sync.Mutex // guards ln: a reload may move the socket (Move)
	bulkMu sync.Mutex // one batch of a bulk action at a time (bulk.go)
	// batchArrived, when set (tests), is called by a bulk action's batch
	// once its time counts, before it waits for the batch slot (bulkMu).
	batchArrived func()
	// selections: the messages of the commands in batches, by token
	// (batches.go); guarded by bulkMu.
	selections map[string]*selection
	// stopped: tokens of selections stopped by their client (batches.go), answered 410.
	stopped     map[string]time.Time
	q           Queue
	track       Tracker                       // nil when tracking is off
	shadows     func() []shadow.PrimaryStatus // nil when shadow redundancy is off
	serverKnown func(name string) bool        // the topology in force names name (SetServerKnown)
	unreached   func() map[string]time.Time   // holders no probe reached since the start (SetHoldersUnreached)
	dump        Dumpster
	db          Backuper                  // nil: no backups
	pressure    func() backpressure.State // nil: back pressure off
	status      Status
	// reload gives the state of the last reload (nil: not given;
	// SetReload).
	reload func() ReloadState
	log    *slog.Logger
	http   *http.Server
	ln     net.Listener
	// made is the file the socket was made as (guarded by lnMu): a
	// file at its path that is not this one is another's (Remake,
	// removeOwn).
	made os.FileInfo
	now  func() time.Time // audit times
	// newQueue checks a queue name that holds no message now (nil:
	// any well-formed KIND:NAME).
	newQueue func(name string) error
	// backupStall is how long a backup's write to the client may wait
	// (0: backupStallDefault); a stopped client is then cut off.
	backupStall time.Duration
	// loaded is the configuration the daemon runs, as it read it
	// (SetLoadedConfig; nil: not given).
	loaded      func() LoadedConfig
	reloadCheck func(file string) []string
	// tlsPolicy explains a destination's outbound TLS policy (nil: no
	// DANE or MTA-STS; SetTLSPolicy).
	tlsPolicy func(ctx context.Context, domain string) any
	// selfCheck says which next hops of a send connector for a domain
	// are this server and whether its mail loops back here (route
	// explain; SetSelfCheck).
	selfCheck func(ctx context.Context, connector, domain string) any
	// selfCheckHosts is selfCheck for smart hosts given (those of a
	// topology file the daemon does not run; SetSelfCheckHosts).
	selfCheckHosts func(ctx context.Context, connector string, smartHosts []string, domain string) any
	// rcptCheck and mailboxDB answer for the daemon's recipients and
	// directory (route explain; recipients.go).
	rcptCheck func(ctx context.Context, addrs []string) any
	mailboxDB func(ctx context.Context, addr string) (string, bool, error)
	// redirectSelf says why a queue redirect's target is this server
	// ("" when it is not; SetRedirectCheck).
	redirectSelf func(ctx context.Context, to string) string
	// tlsReports: the TLS-RPT counter (nil: tls_rpt off; tlsreport.go).
	tlsReportsMu sync.Mutex
	tlsReports   TLSReports
	// stopping: the daemon's stop began (SetStopping); every answer
	// says so (StoppingHeader).
	stopping atomic.Bool
	// claimTrouble says why claims of due messages fail ("" while they
	// commit; SetClaimTrouble): every answer says so (ClaimsFailingHeader).
	claimTrouble atomic.Pointer[func() string]
}

// AdminHeader is set, to "1", on every answer of umbra's admin server,
// before its handlers run, errors and refusals too: the client tells by
// it that what answered on the path is umbra's admin socket, not another
// program's whose answer happens to decode (an empty JSON list read as
// an empty queue listing).
const AdminHeader = "Umbra-Admin"

// marked sets AdminHeader on every answer of h.
func marked(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(AdminHeader, "1")
		h.ServeHTTP(w, r)
	})
}

// StoppingHeader is set on every answer of a daemon whose stop (the
// drain after SIGTERM) began: no delivery attempt starts before its next
// start, so a command that made messages due (queue retry, resume,
// flush, message retry, a release or a redelivery) must not say they go
// now. Its value says so in words.
const StoppingHeader = "X-Umbra-Stopping"

// stoppingText is StoppingHeader's value.
const stoppingText = "umbra is stopping: no delivery attempt starts before it is started again"

// SetStopping tells the API that the daemon's stop began (serve calls it
// when the drain starts): from now on every answer carries
// StoppingHeader.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// ClaimsFailingHeader is set on every answer while the claims of due
// messages fail (a full disk with no room for even a claim of one):
// nothing is delivered meanwhile, and a listing that shows mail ready
// and due now must say why it stays (queue list, message list). Its
// value says so in words, with the last error.
const ClaimsFailingHeader = "X-Umbra-Claims-Failing"

// SetClaimTrouble gives the API what says why claims fail ("" while
// they commit; queue.Manager.ClaimTrouble).
func (s *Server) SetClaimTrouble(f func() string) { s.claimTrouble.Store(&f) }

// markStopping sets StoppingHeader on every answer once the stop began.
// It looks when the answer is written, after the action: an action that
// began before the stop and took effect after it is answered so too.
func (s *Server) markStopping(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&stoppingWriter{ResponseWriter: w, s: s}, r)
	})
}

// stoppingWriter sets StoppingHeader, if the stop began, as the answer's
// header is written.
type stoppingWriter struct {
	http.ResponseWriter
	s      *Server
	marked bool
}

func (w *stoppingWriter) mark() {
	if !w.marked {
		w.marked = true
		if w.s.stopping.Load() {
			w.Header().Set(StoppingHeader, stoppingText)
		}
		if f := w.s.claimTrouble.Load(); f != nil {
			if text := (*f)(); text != "" {
				w.Header().Set(ClaimsFailingHeader, headerText(text))
			}
		}
	}
}

func (w *stoppingWriter) WriteHeader(code int) {
	w.mark()
	w.ResponseWriter.WriteHeader(code)
}

func (w *stoppingWriter) Write(b []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the connection's writer (the
// backup's write deadlines).
func (w *stoppingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Listen creates the socket at path (mode 0660).
func Listen(path string, q Queue, track Tracker, status Status, log *slog.Logger) (*Server, error) {
	ln, made, err := listenSocket(path)
	if err != nil {
		return nil, err
	}
	s := &Server{q: q, track: track, status: status, log: log, ln: ln, made: made, now: time.Now}
	s.http = &http.Server{Handler: marked(s.routes()), ReadHeaderTimeout: 10 * time.Second, ConnContext: connContext}
	s.auditStopped() // the lines of commands a stop cut short (batches.go)
	return s, nil
}

// listenSocket makes the admin socket at path: refused while another
// process answers there; a stale socket of a process that is gone is
// replaced. made is the file it made: closing the listener does not
// remove the file at path (which may be another's by then: removeOwn).
func listenSocket(path string) (ln net.Listener, made os.FileInfo, err error) {
	if err := SocketFree(path); err != nil {
		return nil, nil, fmt.Errorf("admin socket %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, err
	}
	os.Remove(path) // stale socket of a process that is gone
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	ul.SetUnlinkOnClose(false)
	if made, err = os.Lstat(path); err == nil {
		err = os.Chmod(path, 0o660)
	}
	if err != nil {
		ul.Close()
		os.Remove(path)
		return nil, nil, err
	}
	return ul, made, nil
}

// removeOwn removes the file at path if it is made, the socket this
// server made there: a file another process put in its place since is
// left alone. Called with lnMu held.
func removeOwn(path string, made os.FileInfo) {
	if fi, err := os.Lstat(path); err == nil && made != nil && os.SameFile(fi, made) {
		os.Remove(path)
	}
}

// SocketFree reports, as nil, that no process answers on the admin
// socket at path, so that a socket there is a stale one of a process
// that is gone, or one this process cannot replace anyway; else an
// error whose text starts with path: another process answers there, or
// this process may not connect but could remove the socket's name
// (permission denied: whether one answers is not known, and a socket
// another user's daemon serves must not be taken for stale and
// replaced; the error names its owner and mode). Where this process may
// neither connect nor remove the name, what it meets next (the data
// directory's files of another user, the name taken) says what is
// wrong.
func SocketFree(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	if (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) &&
		syscall.Access(filepath.Dir(path), 0x2|0x1) == nil { // W_OK|X_OK: its name could be removed
		return fmt.Errorf("%s%s refuses this process (user %s): another process, of another user, may answer "+
			"there, so it is not taken for a stale one and replaced. Give this server its own server.admin_socket, or run it "+
			"as the socket's owner: %w", path, socketOwner(path), queue.UserName(os.Geteuid()), err)
	}
	return nil
}

// Path is where the admin socket is now.
func (s *Server) Path() string {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	return s.ln.Addr().String()
}

// Move makes the admin socket at path and serves there, then closes the
// one it replaces and removes its file (a reload that changed
// server.admin_socket): the CLI reading the new configuration finds the
// daemon, and no socket is left at the old path. A request already
// accepted on the old socket is answered. When the new socket cannot be
// made (another process answers there, a directory that cannot be
// made) nothing changes and the error says why. A path that names its
// own socket (through a symbolic link) is no move.
func (s *Server) Move(path string) error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	old := s.ln
	if filepath.Clean(path) == filepath.Clean(old.Addr().String()) {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && s.made != nil && os.SameFile(fi, s.made) {
		// Its own socket by another name (its directory through a
		// symbolic link): no move, and no other process (rt28e F4).
		return nil
	}
	ln, made, err := listenSocket(path)
	if err != nil {
		return err
	}
	oldMade := s.made
	s.ln, s.made = ln, made
	go s.serveOn(ln)
	old.Close() // its Serve returns; Shutdown no longer tracks it
	removeOwn(old.Addr().String(), oldMade)
	return nil
}

// Remake makes the admin socket again at its path when the file there
// is no longer the socket it serves — removed (by hand, by a cleanup of
// /run) or replaced —, so that the CLI reaches the daemon again; the
// daemon calls it at SIGHUP, which the CLI names when it finds the
// daemon listening on a socket whose file is gone (ErrSocketGone). It
// reports whether it made one. A file at the path that is not a socket
// is left alone, and so is a socket another process answers on (both an
// error); a stale socket there is replaced, as at a start. Requests
// under way on the socket it replaces are answered.
func (s *Server) Remake() (bool, error) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	path := s.ln.Addr().String()
	fi, err := os.Lstat(path)
	switch {
	case err == nil && s.made != nil && os.SameFile(fi, s.made):
		return false, nil // its own: nothing to do
	case err == nil && fi.Mode()&os.ModeSocket == 0:
		return false, fmt.Errorf("admin socket %s: a file that is not a socket is there (%s); it is left alone: "+
			"remove it, then SIGHUP makes the admin socket again", path, config.FileKind(fi.Mode()))
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln, made, err := listenSocket(path) // refused while another process answers there
	if err != nil {
		return false, err
	}
	old := s.ln
	s.ln, s.made = ln, made
	go s.serveOn(ln)
	old.Close() // its Serve returns; its name is the new socket's, left as it is
	return true, nil
}

// SetReload gives GET /v1/status the state of the last configuration
// reload; reload must be safe to call from any goroutine. Set before
// the API serves.
func (s *Server) SetReload(reload func() ReloadState) { s.reload = reload }

// SetShadows gives the API the shadow manager's view of its primaries.
func (s *Server) SetShadows(status func() []shadow.PrimaryStatus) { s.shadows = status }

// SetServerKnown gives the test of a server name against the topology in
// force (nil: every name known): ShadowViews marks a primary it does not
// know NotInTopology.
func (s *Server) SetServerKnown(f func(name string) bool) { s.serverKnown = f }

// SetHoldersUnreached gives the holders no probe reached since this
// server's start (shadow.Holders.Unreached): shadow single and message
// show say of the messages whose copy is on one that it may have taken
// them over (rt30a F2).
func (s *Server) SetHoldersUnreached(f func() map[string]time.Time) { s.unreached = f }

// holderUnreached is the note for a message that arrived at arrived
// whose copy is (or was) on server, "" when a probe reached server since
// the start — or when the message arrived after server's first failed
// probe, so after this server's start: it was not here while this
// server was away, and server cannot have taken it over then.
func (s *Server) holderUnreached(server string, arrived time.Time) string {
	if s.unreached == nil || server == "" {
		return ""
	}
	if since, ok := s.unreached()[server]; ok && !arrived.After(since) {
		return shadow.UnreachedNote
	}
	return ""
}

// UnreachedHolder is a shadow server no probe reached since this
// server's start, with the messages pending here whose copy it holds
// (GET /v1/shadows/unreached; shadow single).
type UnreachedHolder struct {
	Server   string    `json:"server"`
	Since    time.Time `json:"since"`
	Messages int       `json:"messages"`
	Note     string    `json:"note"`
}

// SetDumpster gives the API the transport dumpster.
func (s *Server) SetDumpster(d Dumpster) { s.dump = d }

// LoadedConfig is the configuration the daemon runs: the text of its
// configuration file and of its topology file as it read them at start
// or at its last reload that succeeded (GET /v1/config; route explain
// explains these, not the files as edited since). The configuration
// names credentials only by file, never holds them. Server is the server
// section in force: it applies only at a restart, so after a reload
// that changed it (server.postmaster derived from an authoritative
// domain added first, server.name) it is not what Config's text says;
// nil from a daemon older than this field.
type LoadedConfig struct {
	File         string         `json:"file"` // "": the embedded default
	Config       string         `json:"config"`
	TopologyFile string         `json:"topology_file,omitempty"`
	Topology     string         `json:"topology,omitempty"`
	Server       *config.Server `json:"server,omitempty"`
}

// SetLoadedConfig gives the API the configuration the daemon runs.
func (s *Server) SetLoadedConfig(f func() LoadedConfig) { s.loaded = f }

// SetReloadCheck gives the API the SIGHUP reload's checks of a file
// against the running state as a dry run (POST /v1/config/check, the
// file's absolute path as the body; config check): f applies nothing,
// binds nothing, and answers each refusal at file:line in the reload's
// words (none: the reload would take the file).
func (s *Server) SetReloadCheck(f func(file string) []string) { s.reloadCheck = f }

// ReloadCheck is the answer of POST /v1/config/check.
type ReloadCheck struct {
	Refusals []string `json:"refusals"`
}

// SetTLSPolicy gives the API the explanation of a destination's outbound
// TLS policy (GET /v1/tlspolicy/{domain}; route explain).
func (s *Server) SetTLSPolicy(f func(ctx context.Context, domain string) any) { s.tlsPolicy = f }

// SetSelfCheck gives the API delivery's check of a send connector's
// next hops against this server (GET /v1/selfcheck/{connector}/{domain};
// route explain).
func (s *Server) SetSelfCheck(f func(ctx context.Context, connector, domain string) any) {
	s.selfCheck = f
}

// SetSelfCheckHosts gives the API delivery's check of smart hosts given
// for a send connector (GET /v1/selfcheck/{connector}/{domain}?hosts=given&smart_host=…;
// route explain --topology FILE: FILE's smart hosts, this server's
// bindings and resolver). Each smart host given is checked first as the
// configuration's are (checkSmartHost): one f is never asked about is
// a 400 naming it.
func (s *Server) SetSelfCheckHosts(f func(ctx context.Context, connector string, smartHosts []string, domain string) any) {
	s.selfCheckHosts = f
}

// SetRedirectCheck gives the API delivery's check of a queue redirect's
// target against this server: a redirect whose mail would loop back
// here (and wait with 451 4.4.6) is refused, nothing moved.
func (s *Server) SetRedirectCheck(f func(ctx context.Context, to string) string) {
	s.redirectSelf = f
}

// ShadowView is one primary this server holds shadow copies for.
type ShadowView struct {
	Primary string `json:"primary"`
	// NotInTopology: the topology in force does not name the primary
	// (a reload dropped it, departed42): what is held of it is kept and
	// answered to it (its discards, what was taken over), but it gets
	// no new copy here. shadow list marks its STATE.
	NotInTopology    bool          `json:"not_in_topology,omitempty"`
	Copies           int           `json:"copies"`
	OldestAge        time.Duration `json:"oldest_age_ns"`
	LastContact      time.Time     `json:"last_contact,omitzero"`
	FailedHeartbeats int           `json:"failed_heartbeats"`
	// DatabaseID is the primary's transport database id as stored now:
	// the one its held copies were made against.
	DatabaseID string `json:"database_id,omitempty"`
	// TakenOverUnder lists the database ids its taken-over copies were
	// taken over under (queue.Manager.ShadowTakenUnder): after the
	// primary came back with a new database (SR-7) that is the old one,
	// whose originals are gone — the copies are not the running
	// primary's (shadow28 item 1). Empty for copies an earlier release
	// took over.
	TakenOverUnder []string `json:"taken_over_under,omitempty"`
	// HeldCopies are copies the primary still has (this server keeps
	// them until its discard); TakenOverCopies were taken back from it
	// and not handed on yet, wherever they wait: its shadow queue (for a
	// route or attempt), a route's queue (a retry, a suspension), a
	// redirect, the poison queue (SR-16). Copies is both. The primary is
	// heartbeated while either is here.
	HeldCopies      int `json:"held_copies"`
	TakenOverCopies int `json:"taken_over_copies"`
	// TakenOver: some of the copies listed are taken over.
	TakenOver bool `json:"taken_over,omitempty"`
	// State (ShadowState): what the copies listed and the sessions with
	// the primary say — healthy, unreachable, one-way (this server cannot reach it while it reaches this server: ReachesHere), refused, taken-over.
	State string `json:"state"`
	// Refused is the reply of the last session the primary refused, when
	// it let none in since (state refused); RefusedSince the first of
	// those refusals, LastRefused the last.
	Refused      string    `json:"refused,omitempty"`
	RefusedSince time.Time `json:"refused_since,omitzero"`
	LastRefused  time.Time `json:"last_refused,omitzero"`
	// Unreachable is the error of the last failed heartbeat while they
	// fail (state unreachable): no connection, a broken session, a 421,
	// or a refusal by something without the primary's database digest;
	// or, before a heartbeat failed, of the last failed watch session
	// ("watch session failed: …", state unreachable too).
	// TakeoverAt is when the heartbeat starts that takes the held copies
	// over if it fails too; TakeoverBy the latest it ends in (a primary
	// that hangs keeps it open for one command timeout).
	Unreachable string    `json:"unreachable,omitempty"`
	TakeoverAt  time.Time `json:"takeover_at,omitzero"`
	TakeoverBy  time.Time `json:"takeover_by,omitzero"`
	// TakeoverWaiting: the last failed heartbeat could not be recorded
	// (a full disk: "no space left in data_dir"), so the takeover waits
	// for room, whatever TakeoverAt says.
	TakeoverWaiting string `json:"takeover_waiting,omitempty"`
	// ReachesHere: this server cannot reach the primary (Unreachable)
	// while the primary's own sessions reach this server, the last of
	// them then (LastContact is that one); PushedHere: when it last
	// handed its discards here on its own session (XDISCARD), zero when
	// none since this server's start (shadow.PrimaryStatus).
	ReachesHere time.Time `json:"reaches_here,omitzero"`
	PushedHere  time.Time `json:"discards_pushed_here,omitzero"`
	// TakenOverWhy: why copies of the primary were taken over (failed
	// heartbeats: their count and the last one's error), while it is
	// marked taken over and refuses nothing.
	TakenOverWhy string `json:"taken_over_why,omitempty"`
	// ExpiryKept: the primary refuses this server with the database
	// the copies were made against, so its copies are kept past their
	// expiry, not taken over (shadow.PrimaryStatus.ExpiryKept).
	ExpiryKept string `json:"expiry_kept,omitempty"`
}

// DatabaseShown is the primary's database id as shadow list and the
// console show it: the stored id ("-" none), and the other ids its
// taken-over copies were taken over under, "DB (taken over under OLD)".
func (v ShadowView) DatabaseShown() string {
	out := v.DatabaseID
	if out == "" {
		out = "-"
	}
	var other []string
	for _, id := range v.TakenOverUnder {
		if id != v.DatabaseID {
			other = append(other, id)
		}
	}
	if len(other) > 0 {
		out += " (taken over under " + strings.Join(other, ", ") + ")"
	}
	return out
}

// ShadowState is the state of a primary as shadow list, the API and the
// console show it, from the copies listed and the sessions with it:
// taken-over when every copy listed is taken over (this server's to
// deliver); otherwise the state of the copies it still has: refused
// (it answers, presenting its database digest, and refuses this
// server's sessions — alive, never taken over for it; no discard
// reaches this server meanwhile), unreachable (heartbeats fail —
// nothing answers, a 421, or something without its database digest
// refuses —, counted towards the takeover at the retry count) or
// healthy.
func ShadowState(held, takenOver, failures int, refused string) string {
	switch {
	case held == 0 && takenOver > 0:
		return "taken-over"
	case refused != "":
		return "refused"
	case failures > 0:
		return "unreachable"
	}
	return "healthy"
}

// DatabaseForgetter is the queue's index of the transport database ids
// met as each primary's (queue.Manager.ForgetDatabaseID).
type DatabaseForgetter interface {
	ForgetDatabaseID(dbID string) ([]string, error)
}

// copyHolder names the server whose shadow copy backs a message now
// (queue.Manager.CopyHolderOf): the record's server, but for a message
// whose hold or quarantine discarded the copy.
type copyHolder interface {
	CopyHolderOf(id queue.ID) string
}

// singleCopies is the queue's record of the messages held by this server
// only (queue.Manager, holders.go).
type singleCopies interface {
	SingleCopies() ([]queue.SingleCopy, error)
	SingleCopyOf(id queue.ID) (queue.SingleCopy, bool)
}

// SingleCopyView is a message held by this server only (GET
// /v1/shadows/single, shadow list): its shadow copy on Lost was lost
// with that server's database, or not made, Since then; Refused is the
// reply of the latest server that refused to keep it (a full disk).
type SingleCopyView struct {
	ID      string    `json:"id"`
	Lost    string    `json:"lost_on"`
	Since   time.Time `json:"since"`
	Refused string    `json:"refused,omitempty"`
	// TakenOver: the message was a shadow copy taken over from Lost;
	// this server's disk is its only one known until a copy is made.
	TakenOver bool `json:"taken_over,omitempty"`
	// How: what befell the copy on Lost, when known (queue.SingleCopy.How):
	// "removed" by its holder's administrator, "damaged" there, "held" or
	// "quarantined" (discarded by this server's hold or quarantine, made
	// again since the release), "taken-over" (TakenOver), "rolled back"
	// (missing on its holder, whose database file was copied back from
	// an older copy: queue keptcopy.go), "push cut" (a stop cut the push
	// of the copy on receipt short: Lost may store it, queue
	// pushcrash.go); "" for a copy lost with its holder's database, or
	// none made.
	How string `json:"how,omitempty"`
	// HolderUnreached: Lost has not been reached by a probe since this
	// server's start: it may hold the copy still, and may have taken it
	// over and delivered it (shadow.UnreachedNote, rt30a F2).
	HolderUnreached string `json:"holder_unreached,omitempty"`
	// AlsoPushed: the other servers its copy was pushed to without
	// confirmation (each may hold it, and gets its discard when the copy
	// is made elsewhere or the message ends), in name order (rt20a F3).
	AlsoPushed []string `json:"also_pushed_to,omitempty"`
	// Unconfirmed: a copy may exist on a server its push got no
	// confirmation from (queue.SingleCopy.MayHold: no reply, a push cut
	// by a stop, or AlsoPushed): not held by this server only, listed
	// apart by shadow single.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

// ShadowViews is what shadow list shows of each primary: the shadow
// queues with the shadow manager's view (GET /v1/shadows, the console,
// the metrics' umbra_shadow_primary_state).
func (s *Server) ShadowViews() ([]ShadowView, error) {
	qs, err := s.q.Queues()
	if err != nil {
		return nil, err
	}
	byName := map[string]*ShadowView{}
	var out []ShadowView
	for _, q := range qs {
		if p, ok := strings.CutPrefix(q.Name, "shadow:"); ok {
			out = append(out, ShadowView{Primary: p, Copies: q.Count, OldestAge: q.OldestAge})
		}
	}
	for i := range out {
		byName[out[i].Primary] = &out[i]
	}
	var counts map[string]queue.ShadowCopyCount
	var oldest map[string]time.Duration
	if c, ok := s.q.(shadowCopyCounter); ok {
		if counts, oldest, err = c.ShadowCopiesAged(); err != nil {
			return nil, err
		}
	}
	// A primary whose only copies here are taken over and wait outside
	// its shadow queue (a route's queue, a redirect, poison) is listed
	// too: it is still heartbeated for them.
	var extra []string
	for p, c := range counts {
		if byName[p] == nil && c.Held+c.TakenOver > 0 {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		out = append(out, ShadowView{Primary: p})
	}
	for i := range out {
		byName[out[i].Primary] = &out[i]
	}
	if s.shadows != nil {
		var refusedOnly []ShadowView
		for _, st := range s.shadows() {
			key := queue.PrimaryKey(st.Name) // the queue's one spelling of a primary; the shadow manager's may be another
			if byName[key] == nil && st.Refused != "" {
				// No copy held for it, and its contacts refused here
				// (rt24a F1): listed refused while the refusal stands.
				refusedOnly = append(refusedOnly, ShadowView{Primary: st.Name, LastContact: st.LastContact, DatabaseID: st.DatabaseID,
					Refused: st.Refused, RefusedSince: st.RefusedSince, LastRefused: st.LastRefused})
				continue
			}
			if v := byName[key]; v != nil {
				v.LastContact, v.FailedHeartbeats, v.DatabaseID = st.LastContact, st.Failures, st.DatabaseID
				v.Refused, v.RefusedSince, v.LastRefused = st.Refused, st.RefusedSince, st.LastRefused
				v.Unreachable, v.TakeoverAt, v.TakeoverBy = st.Unreachable, st.TakeoverAt, st.TakeoverBy
				v.TakeoverWaiting = st.TakeoverWaiting
				v.ReachesHere, v.PushedHere = st.ReachesHere, st.PushedHere
				v.TakenOverWhy, v.ExpiryKept = st.TakenOverWhy, st.ExpiryKept
				if counts == nil && st.TakenOver {
					v.TakenOverCopies = v.Copies // no count by kind: the primary's record
				}
			}
		}
		out = append(out, refusedOnly...)
	}
	var under map[string][]string
	if l, ok := s.q.(takenUnderLister); ok {
		if under, err = l.ShadowTakenUnder(); err != nil {
			return nil, err
		}
	}
	var rollbacks map[string]queue.RollbackNote
	if l, ok := s.q.(rollbackLister); ok {
		rollbacks = l.ShadowRollbacks()
	}
	for i := range out {
		v := &out[i]
		v.TakenOverUnder = under[v.Primary]
		if c, ok := counts[v.Primary]; ok {
			v.HeldCopies, v.TakenOverCopies = c.Held, c.TakenOver
			v.Copies = c.Held + c.TakenOver
			// OLDEST covers every copy COPIES counts, the taken-over
			// ones outside the shadow queue too (rt35 F7).
			v.OldestAge = oldest[v.Primary]
		} else if v.TakenOverCopies == 0 {
			v.HeldCopies = v.Copies
		}
		v.TakenOver = v.TakenOverCopies > 0
		if n, ok := rollbacks[queue.PrimaryKey(v.Primary)]; ok && v.TakenOver {
			// Its copies were taken over (also) because it came back
			// rolled back: no failed heartbeat says so, its contact
			// reset them.
			if v.TakenOverWhy == "" {
				v.TakenOverWhy = n.Why()
			} else {
				v.TakenOverWhy += "; " + n.Why()
			}
		}
		v.State = ShadowState(v.HeldCopies, v.TakenOverCopies, v.FailedHeartbeats, v.Refused)
		if v.State == "healthy" && v.Unreachable != "" {
			v.State = "unreachable" // no heartbeat failed yet, its watch sessions do
		}
		if v.State == "unreachable" && !v.ReachesHere.IsZero() {
			// This server cannot reach it, its own sessions reach this
			// server (a link failing one way): each moves the takeover
			// on, none comes while they go on (partition49).
			v.State = "one-way"
		}
		v.NotInTopology = s.serverKnown != nil && !s.serverKnown(v.Primary)
	}
	return out, nil
}

// queueActionAudited names a queue action for the audit of its refusal
// (auditRefusals), as the handler names it when it acts: "queue
// ACTION[ to TARGET]" on the queue.
func queueActionAudited(r *http.Request) (action, target string) {
	action = "queue " + r.PathValue("action")
	if to := r.URL.Query().Get("to"); to != "" {
		action += " to " + to
	}
	return action, queueNameOf(r.PathValue("name"))
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() {
	s.lnMu.Lock()
	ln := s.ln
	s.lnMu.Unlock()
	s.serveOn(ln)
}

func (s *Server) serveOn(ln net.Listener) {
	// net/http's own answers to requests it could not read (400, 431)
	// reach no handler and are logged nowhere: httprefusal logs them.
	err := s.http.Serve(httprefusal.New("admin API", s.log, nil).Listener(ln))
	s.lnMu.Lock()
	moved := s.ln != ln // closed by Move: the API goes on at the new socket
	s.lnMu.Unlock()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !moved {
		s.log.Error("admin API stopped", "err", err)
	}
}

// Shutdown stops the API and removes the socket: the requests under way
// may end until ctx ends, then their connections are closed (a client
// that never sends the body it announced cannot hold the stop).
func (s *Server) Shutdown(ctx context.Context) {
	if s.http.Shutdown(ctx) != nil {
		s.http.Close()
	}
	s.lnMu.Lock()
	removeOwn(s.ln.Addr().String(), s.made) // not a file another process put in its place
	s.lnMu.Unlock()
	s.closeSelections() // the audit lines of commands cut short (batches.go)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := s.status
		if s.reload != nil {
			rs := s.reload()
			st.Reload = &rs
		}
		reply(w, st, nil)
	})
	mux.HandleFunc("GET /v1/db/backup", s.backup)
	mux.HandleFunc("POST /v1/db/backup/failed", s.backupFailed)
	mux.HandleFunc("GET /v1/backpressure", s.backPressure)
	s.tlsReportRoutes(mux)
	s.recipientRoutes(mux)
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		if s.loaded == nil {
			fail(w, http.StatusNotFound, "no configuration given")
			return
		}
		reply(w, s.loaded(), nil)
	})
	mux.HandleFunc("POST /v1/config/check", func(w http.ResponseWriter, r *http.Request) {
		if s.reloadCheck == nil {
			fail(w, http.StatusNotFound, "no configuration given")
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		file := string(b)
		if err != nil || file == "" || !filepath.IsAbs(file) || strings.ContainsRune(file, 0) {
			fail(w, http.StatusBadRequest, "config check: the body is the configuration file's absolute path")
			return
		}
		reply(w, ReloadCheck{Refusals: append([]string{}, s.reloadCheck(file)...)}, nil)
	})
	mux.HandleFunc("GET /v1/tlspolicy/{domain}", func(w http.ResponseWriter, r *http.Request) {
		if s.tlsPolicy == nil {
			fail(w, http.StatusNotFound, "outbound_tls: DANE and MTA-STS are off")
			return
		}
		reply(w, s.tlsPolicy(r.Context(), r.PathValue("domain")), nil)
	})
	mux.HandleFunc("GET /v1/selfcheck/{connector}/{domain}", func(w http.ResponseWriter, r *http.Request) {
		if s.selfCheck == nil {
			fail(w, http.StatusNotFound, "no deliverer")
			return
		}
		if q := r.URL.Query(); q.Get("hosts") == "given" {
			if s.selfCheckHosts == nil {
				fail(w, http.StatusNotFound, "no deliverer")
				return
			}
			for _, h := range q["smart_host"] {
				if err := checkSmartHost(h); err != nil {
					failErr(w, http.StatusBadRequest, err) // never looked up nor connected to
					return
				}
			}
			reply(w, s.selfCheckHosts(r.Context(), r.PathValue("connector"), q["smart_host"], r.PathValue("domain")), nil)
			return
		}
		reply(w, s.selfCheck(r.Context(), r.PathValue("connector"), r.PathValue("domain")), nil)
	})
	mux.HandleFunc("GET /v1/queues", func(w http.ResponseWriter, r *http.Request) {
		qs, err := s.q.Queues()
		reply(w, qs, err)
	})
	mux.HandleFunc("GET /v1/destinations", func(w http.ResponseWriter, r *http.Request) {
		ds := []queue.DestinationInfo{}
		if dl, ok := s.q.(destinationLister); ok {
			ds = dl.Destinations()
		}
		reply(w, ds, nil)
	})
	mux.HandleFunc("POST /v1/queues/{name}/{action}", s.auditRefusals(queueActionAudited, func(w http.ResponseWriter, r *http.Request) {
		name := queueNameOf(r.PathValue("name")) // either form of a redirect target, read here once (rt18e-F2): the queue takes the one form only
		var err error
		n := 0
		to := r.URL.Query().Get("to")
		if r.PathValue("action") == "redirect" {
			// A bad target is a usage error, found before anything is
			// looked up (the queue's name included) or changed.
			if to == "" {
				fail(w, http.StatusBadRequest, "redirect needs ?to=host[:port]")
				return
			}
			if err := checkRedirectTarget(to); err != nil {
				failErr(w, http.StatusBadRequest, err) // stored, it would defer every message it takes
				return
			}
		}
		// Every request is checked for what the action refuses. A later
		// batch of a batched command (after=ID) whose selection is still
		// held acts on what its first batch selected and checked: it skips
		// the costly checks (a redirect empties the queue as it goes). One
		// whose selection is gone selects again: it is checked again, its
		// queue allowed to be empty by now.
		later := r.URL.Query().Get("after") != ""
		held := later && s.batchedHeld(r.PathValue("action"), r.URL.Query().Get("selection"))
		switch r.PathValue("action") {
		case "suspend", "resume", "retry", "redirect":
			// A queue nothing is delivered from is refused with what acts
			// on its messages, whether or not one is there now.
			if err := queue.CheckQueueAction(name, r.PathValue("action")); err != nil {
				failErr(w, http.StatusUnprocessableEntity, err) // it would say done and change nothing
				return
			}
			if held {
				break
			}
			// A shadow queue of copies none taken over here: nothing is
			// delivered from it yet, the same refusal as its suspension.
			if sq, ok := s.q.(shadowQueueChecker); ok && !later {
				if err := sq.CheckShadowQueueAction(name, r.PathValue("action")); err != nil {
					failErr(w, http.StatusUnprocessableEntity, err)
					return
				}
			}
			// A typo must not suspend a phantom queue nor succeed; a
			// queue that can exist may be suspended before its mail,
			// and resumed or retried with none in it (0 due).
			if r.PathValue("action") == "redirect" && !later && s.emptyQueue(name) {
				// A queue the configuration can produce, with nothing in
				// it: there is nothing to redirect, and the name is not a
				// typo (suspend lists it as valid).
				failShown(w, http.StatusNotFound, fmt.Sprintf("queue %s holds no message now: nothing to redirect", queue.QuoteShown(name)))
				return
			}
			// The names of every command (checkNames): a redirect of a
			// configured queue that holds nothing is answered above.
			if !s.checkNamesFor(w, name, "", true, true) {
				return
			}
		}
		action := "queue " + r.PathValue("action")
		if to != "" {
			action += " to " + to
		}
		switch r.PathValue("action") {
		case "suspend", "resume", "retry":
		case "redirect":
			if s.redirectSelf != nil && !held {
				if why := s.redirectSelf(r.Context(), to); why != "" {
					fail(w, http.StatusUnprocessableEntity, why)
					return
				}
			}
		default:
			fail(w, http.StatusNotFound, "unknown queue action")
			return
		}
		if qb, ok := s.q.(QueueBatcher); ok && r.PathValue("action") != "suspend" {
			s.queueBatch(w, r, qb, r.PathValue("action"), name, to, action) // batches.go
			return
		}
		switch r.PathValue("action") {
		case "suspend":
			err = s.q.SuspendQueue(r.Context(), name)
		case "resume":
			n, err = s.q.ResumeQueue(r.Context(), name)
		case "retry":
			n, err = s.q.RetryQueue(r.Context(), name)
		case "redirect":
			n, err = s.q.RedirectQueue(r.Context(), name, to)
		default:
			fail(w, http.StatusNotFound, "unknown queue action")
			return
		}
		s.audit(r, action, nil, name, err)
		reply(w, map[string]any{"queue": name, "rescheduled": n}, err)
	}))
	// Every waiting message due now (umbra queue flush).
	mux.HandleFunc("POST /v1/flush", s.auditRefusals(func(*http.Request) (string, string) { return "queue flush", "" }, func(w http.ResponseWriter, r *http.Request) {
		if qb, ok := s.q.(QueueBatcher); ok {
			s.queueBatch(w, r, qb, "flush", "", "", "queue flush") // batches.go
			return
		}
		op, ok := s.q.(Operator)
		if !ok {
			fail(w, http.StatusNotImplemented, "flush is not supported")
			return
		}
		n, err := op.Flush(r.Context())
		s.audit(r, "queue flush", nil, "", err)
		reply(w, map[string]any{"rescheduled": n}, err)
	}))
	mux.HandleFunc("GET /v1/shadows/single", func(w http.ResponseWriter, r *http.Request) {
		out := []SingleCopyView{}
		sc, ok := s.q.(singleCopies)
		if !ok {
			reply(w, out, nil)
			return
		}
		list, err := sc.SingleCopies() // not those whose copy was made again while in delivery: held elsewhere
		for _, c := range list {
			v := SingleCopyView{ID: c.ID.String(), Lost: c.Lost, Since: c.Since, Refused: c.Refused, TakenOver: c.TakenOver, How: c.How}
			if !c.TakenOver {
				// The message read only for a holder unreached: its
				// arrival decides the note.
				if v.HolderUnreached = s.holderUnreached(c.Lost, time.Time{}); v.HolderUnreached != "" {
					if m, err := s.q.Message(c.ID); err == nil {
						v.HolderUnreached = s.holderUnreached(c.Lost, m.Arrived)
					}
				}
			}
			v.AlsoPushed = s.alsoPushed(c) // unconfirmed.go
			v.Unconfirmed = c.MayHold || len(v.AlsoPushed) > 0
			out = append(out, v)
		}
		reply(w, out, err)
	})
	mux.HandleFunc("GET /v1/shadows/unreached", func(w http.ResponseWriter, r *http.Request) {
		out := []UnreachedHolder{}
		if s.unreached == nil {
			reply(w, out, nil)
			return
		}
		var counts map[string]int
		if hc, ok := s.q.(interface {
			ShadowHolders() (map[string]int, error)
		}); ok {
			counts, _ = hc.ShadowHolders()
		}
		for n, since := range s.unreached() {
			if counts != nil && counts[n] == 0 {
				continue // holds nothing pending here (a stale peer probed)
			}
			out = append(out, UnreachedHolder{Server: n, Since: since, Messages: counts[n], Note: shadow.UnreachedNote})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
		reply(w, out, nil)
	})
	// The operator forgets a transport database id met as a server's
	// (umbra shadow forget-database; queue.Manager.ForgetDatabaseID).
	mux.HandleFunc("POST /v1/shadows/databases/{id}/forget", s.auditRefusals(func(r *http.Request) (string, string) {
		return "shadow forget-database " + r.PathValue("id"), ""
	}, func(w http.ResponseWriter, r *http.Request) {
		df, ok := s.q.(DatabaseForgetter)
		if !ok {
			fail(w, http.StatusNotImplemented, "forgetting a database id is not supported")
			return
		}
		id := r.PathValue("id")
		if !shadowid.Valid(id) {
			fail(w, http.StatusBadRequest, "not a transport database id: "+shadowid.Syntax)
			return
		}
		owners, err := df.ForgetDatabaseID(id)
		s.audit(r, "shadow forget-database "+id, nil, "", err)
		if owners == nil {
			owners = []string{}
		}
		reply(w, map[string]any{"database_id": id, "was": owners}, err)
	}))
	mux.HandleFunc("GET /v1/shadows", func(w http.ResponseWriter, r *http.Request) {
		vs, err := s.ShadowViews()
		if vs == nil {
			vs = []ShadowView{}
		}
		reply(w, vs, err)
	})
	mux.HandleFunc("GET /v1/dumpster", s.withDumpster(func(w http.ResponseWriter, r *http.Request) {
		out, err := s.dumpsterSummaries()
		reply(w, out, err)
	}))
	mux.HandleFunc("GET /v1/dumpster/{database}", s.withDumpster(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		var since time.Time
		if v.Get("since") != "" {
			var err error
			if since, err = dumpster.ParseTime(v.Get("since")); err != nil {
				fail(w, http.StatusBadRequest, "since: "+err.Error())
				return
			}
		}
		if msg := listLimitError(v.Get("limit")); msg != "" {
			fail(w, http.StatusBadRequest, msg)
			return
		}
		limit, _ := strconv.Atoi(v.Get("limit"))
		// A typo in the database name must not look like an empty
		// dumpster; a configured database without copies is empty.
		if err := s.checkDumpsterDatabase(r.PathValue("database")); err != nil {
			failShown(w, http.StatusNotFound, err.Error())
			return
		}
		out, err := s.dump.List(r.PathValue("database"), since, limit)
		if out == nil {
			out = []dumpster.Entry{}
		}
		reply(w, out, err)
	}))
	// A redelivery request, as a mailbox cluster manager makes it after a
	// failover: POST /v1/dumpster/DB/redeliver?since=RFC3339&request_id=ID,
	// or since_ago=DURATION (90m, 24h, 1d: dumpster.ParseAgo): the copies kept since
	// that long before the request's start. Repeating it with the same
	// request_id and parameters does nothing more (a duration is measured
	// from the first call's start, so a retry names the same window); the
	// same request_id with other parameters is 409.
	mux.HandleFunc("POST /v1/dumpster/{database}/redeliver", s.auditRefusals(func(r *http.Request) (string, string) {
		return "dumpster resubmit", "dumpster:" + r.PathValue("database")
	}, s.withDumpster(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		var since time.Time
		var ago time.Duration
		var err error
		switch {
		case v.Has("since") == v.Has("since_ago"):
			fail(w, http.StatusBadRequest, "give one of since (an RFC 3339 time) and since_ago (a duration such as 90m)")
			return
		case v.Has("since"):
			if since, err = dumpster.ParseTime(v.Get("since")); err != nil {
				fail(w, http.StatusBadRequest, "since: "+err.Error())
				return
			}
			// A window that cannot hold a copy would be stored as a
			// request that resubmitted nothing, and answer success.
			if !since.Before(time.Now()) {
				fail(w, http.StatusBadRequest, fmt.Sprintf("since %s is not before now: no copy is kept since then", v.Get("since")))
				return
			}
		default:
			// The CLI's --since rule (dumpster.ParseAgo): days are a
			// unit, and past 292 years is every copy.
			if ago, err = dumpster.ParseAgo(v.Get("since_ago")); err != nil || ago <= 0 {
				// Quoted as Go does (%q: the byte 0xe9 \xe9), escaped once:
				// answered as it is (failShown), not by the answers' rule.
				failShown(w, http.StatusBadRequest, fmt.Sprintf("since_ago must be a duration of more than 0 (90m, 24h, 1d): %q", v.Get("since_ago")))
				return
			}
		}
		id := v.Get("request_id")
		if id == "" || len(id) > 128 {
			fail(w, http.StatusBadRequest, "request_id is required (at most 128 characters), so that a retried request is recognised")
			return
		}
		db := r.PathValue("database")
		if err := s.knownDatabase(db); err != nil {
			// A misspelt database would store a request that matches
			// nothing and answer success.
			s.audit(r, "dumpster resubmit", nil, "dumpster:"+db, err)
			var ue *queue.UnknownNameError
			if errors.As(err, &ue) {
				failShown(w, http.StatusNotFound, err.Error())
			} else {
				failErr(w, http.StatusInternalServerError, err)
			}
			return
		}
		var req *queue.Request
		var outcome dumpster.Outcome
		if v.Has("since") {
			req, outcome, err = s.dump.Redeliver(r.Context(), id, db, since)
		} else {
			req, outcome, err = s.dump.RedeliverAgo(r.Context(), id, db, ago)
		}
		result := outcome.String()
		switch {
		case err != nil:
			result = auditText(err)
		case req != nil:
			cleared := fmt.Sprintf("%d duplicate records cleared", req.Cleared)
			if req.Cleared == 1 { // a count's sentence agrees with it (rt33c F8)
				cleared = "1 duplicate record cleared"
			}
			result = fmt.Sprintf("%s: request %s since %s, %d resubmitted, %d skipped as unreadable, %s",
				outcome, id, req.Since.UTC().Format(time.RFC3339Nano), req.Resubmitted, req.Skipped, cleared)
		}
		s.auditAs(r, "dumpster resubmit", nil, "dumpster:"+db, result)
		if errors.Is(err, dumpster.ErrRequestConflict) || errors.Is(err, queue.ErrDamagedRequest) {
			// A damaged request's id is refused as a conflicting one:
			// a new request id is the way on (the message says so).
			failErr(w, http.StatusConflict, err)
			return
		}
		if errors.Is(err, dumpster.ErrUnfinished) {
			// Stored and begun: finished at the next start, or by the
			// same request made again (the message says so).
			failErr(w, http.StatusServiceUnavailable, err)
			return
		}
		var out Redelivery
		if req != nil {
			out = Redelivery{RequestID: req.ID, Database: req.Database, Since: req.Since, Started: req.Started,
				Resubmitted: req.Resubmitted, Skipped: req.Skipped, Cleared: req.Cleared,
				Repeated: outcome == dumpster.Repeated, Resumed: outcome == dumpster.Resumed}
		}
		reply(w, out, err)
	})))
	// Removal of copies from the dumpster: POST /v1/dumpster/remove with
	// id=QUEUEID (repeated) and/or database=DB and the filter since,
	// until (RFC 3339), from, to (substrings), message_id, org_id (exact).
	// Without ids, confirm=true is required (bulk removal), unless
	// dry_run=true, which removes nothing. Each removed copy is audited
	// (envelope and ids, never the content).
	mux.HandleFunc("POST /v1/dumpster/remove", s.auditRefusals(func(r *http.Request) (string, string) {
		if db := r.URL.Query().Get("database"); db != "" {
			return "dumpster remove", "dumpster:" + db
		}
		return "dumpster remove", ""
	}, s.withDumpster(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		sel := selectionOf(v)
		if !queryTimes(w, v, &sel.Since, &sel.Until) {
			return
		}
		for _, a := range v["id"] {
			id, err := queue.ParseID(a)
			if err != nil {
				failShown(w, http.StatusBadRequest, err.Error())
				return
			}
			sel.IDs = append(sel.IDs, id)
		}
		dry, confirmed := v.Get("dry_run") == "true", v.Get("confirm") == "true"
		if len(sel.IDs) == 0 && !dry && !confirmed {
			fail(w, http.StatusBadRequest, "removing by filter removes every copy it selects: confirm=true is required (dry_run=true lists them)")
			return
		}
		if sel.Database != "" {
			if err := s.checkDumpsterDatabase(sel.Database); err != nil {
				failShown(w, http.StatusNotFound, err.Error())
				return
			}
		}
		removed, err := s.dump.Remove(r.Context(), sel, dry)
		if errors.Is(err, dumpster.ErrEmptySelection) {
			failErr(w, http.StatusBadRequest, err)
			return
		}
		out := DumpsterRemoval{Removed: removed, DryRun: dry}
		if out.Removed == nil {
			out.Removed = []dumpster.Entry{}
		}
		seen := map[string]bool{}
		for _, e := range removed {
			seen[e.QueueID] = true
		}
		// An id is not found only when the scan found no copy of it: a
		// removal whose commit failed leaves copies that are there
		// (rr25 ops25 F2); those are failed, not refused.
		var failed []string
		noCopy := map[string]bool{}
		var re *dumpster.RemoveError
		switch {
		case err == nil:
			for _, id := range sel.IDs {
				noCopy[id.String()] = true
			}
		case errors.As(err, &re):
			for _, id := range re.NoCopy {
				noCopy[id] = true
			}
		}
		for _, id := range sel.IDs {
			switch {
			case seen[id.String()]:
			case noCopy[id.String()]:
				out.NotFound = append(out.NotFound, id.String())
			default:
				failed = append(failed, id.String())
			}
		}
		if !dry {
			for _, e := range removed {
				m := &queue.Message{From: e.From, MessageID: e.MessageID, OrgID: e.OrgID, Size: e.Size}
				m.ID, _ = queue.ParseID(e.QueueID)
				for _, a := range e.Recipients {
					m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: a})
				}
				s.auditAs(r, "dumpster remove", m, "dumpster:"+e.Database, "removed")
			}
			// An id with no copy is a removal refused, audited as a
			// message action on an id that names nothing is.
			// Narrowed by a filter, an id may have copies outside it:
			// "selected", not "no copy".
			narrowed := sel.Database != "" || !sel.Since.IsZero() || !sel.Until.IsZero() || sel.From != "" || sel.To != "" ||
				sel.MessageID != "" || sel.OrgID != ""
			for _, id := range out.NotFound {
				m := &queue.Message{}
				m.ID, _ = queue.ParseID(id)
				reply := "refused: no dumpster copy of " + id
				if narrowed {
					reply += " selected by the filter"
				}
				s.auditAs(r, "dumpster remove", m, "", reply)
			}
			for _, id := range failed {
				m := &queue.Message{}
				m.ID, _ = queue.ParseID(id)
				s.auditAs(r, "dumpster remove", m, "", "failed: "+err.Error())
			}
			if err != nil {
				s.audit(r, "dumpster remove", nil, "dumpster:"+sel.Database, err)
			}
		}
		reply(w, out, err)
	})))
	mux.HandleFunc("GET /v1/track", func(w http.ResponseWriter, r *http.Request) {
		if s.track == nil {
			fail(w, http.StatusNotFound, "the message tracking log is disabled")
			return
		}
		v := r.URL.Query()
		limit, _ := strconv.Atoi(v.Get("limit"))
		q := tracking.Query{ID: v.Get("id"), Sender: v.Get("sender"), Recipient: v.Get("recipient"), Events: v["event"], Limit: limit}
		if !queryTimes(w, v, &q.Since, &q.Until) {
			return
		}
		es, err := s.track.Search(q)
		if es == nil {
			es = []tracking.Entry{}
		}
		var partial *tracking.Partial
		if errors.As(err, &partial) {
			// The files that could be read answer; the others are named
			// in the log and in a header (the body stays a list).
			s.log.Warn("tracking search skipped log files", "err", err)
			w.Header().Set("X-Umbra-Track-Skipped", err.Error())
			err = nil
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		// The log holds each value as shown already (a byte as \xNN,
		// the text \xNN doubled: jsonsafe.TextBytes), as umbra track
		// prints it: written as it is, not escaped a second time.
		w.Header().Set("Content-Type", "application/json")
		b, jerr := json.Marshal(es)
		if jerr != nil {
			b, _ = json.Marshal(map[string]string{"error": jerr.Error()})
		}
		w.Write(append(jsonsafe.Escape(b), '\n'))
	})
	mux.HandleFunc("GET /v1/messages", func(w http.ResponseWriter, r *http.Request) {
		f, err := filterOf(r.URL.Query())
		if err != nil {
			failErr(w, http.StatusBadRequest, err)
			return
		}
		if msg := listLimitError(r.URL.Query().Get("limit")); msg != "" {
			fail(w, http.StatusBadRequest, msg)
			return
		}
		if !s.checkNames(w, f.Queue, f.State) {
			return
		}
		ms, err := s.q.Messages(f)
		out := make([]MessageView, 0, len(ms))
		sv := s.stateView()
		pr, _ := s.q.(pendingResults)
		for _, m := range ms {
			v := view(m, sv)
			if pr != nil && m.State == queue.Active {
				showPendingLastError(&v, pr, m.ID) // as message show gives it
			}
			out = append(out, v)
		}
		reply(w, out, err)
	})
	mux.HandleFunc("GET /v1/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := parseID(w, r)
		if !ok {
			return
		}
		m, err := s.q.Message(id)
		if err != nil {
			reply(w, nil, messageNotHere(id, err))
			return
		}
		v := view(m, s.stateView())
		if ch, ok := s.q.(copyHolder); ok {
			v.ShadowCopy = ch.CopyHolderOf(id) // not a copy a hold discarded (rt19f F3)
		} else if m.ShadowServer != "" && m.ShadowID != "" && queue.HoldDiscardedCopy(m) == "" {
			v.ShadowCopy = m.ShadowServer
		}
		if sc, ok := s.q.(singleCopies); ok {
			if c, ok := sc.SingleCopyOf(id); ok && c.Held != "" {
				v.ShadowCopy = c.Held // made again while in delivery, not named yet
			} else if ok {
				v.SingleCopy, v.ShadowCopy = c.String(), ""
				if !c.TakenOver {
					v.HolderUnreached = s.holderUnreached(c.Lost, m.Arrived)
				}
			}
		}
		if v.HolderUnreached == "" {
			v.HolderUnreached = s.holderUnreached(v.ShadowCopy, m.Arrived)
		}
		if v.SingleCopy == "" && v.ShadowCopy == "" {
			v.SingleCopy = queue.HoldDiscardedCopy(m) // held now: the hold discarded its copy (rt20f F4)
		}
		if pr, ok := s.q.(pendingResults); ok {
			if v.ResultsPending = resultsPendingText(pr, id); v.ResultsPending != "" {
				showPendingOutcome(&v, pr, id) // view.go
			}
		}
		s.showUnconfirmed(&v, id) // unconfirmed.go
		if b, err := s.q.BodyOf(id); err == nil {
			v.Spool = spoolView(b)                                   // spoolview.go: the file and whether it holds the body
			if h, err := b.ReadHeaderSection(64 << 10); err == nil { // the header section only, capped: never a spooled body whole
				v.Subject = subjectOf(h)
			}
		}
		if r.URL.Query().Get("recipients") != "all" && len(v.Recipients) > RecipientsShown {
			// The first RecipientsShown, the rest counted (message
			// show --all asks for them all).
			v.Recipients, v.RecipientsMore = v.Recipients[:RecipientsShown], len(v.Recipients)-RecipientsShown
		}
		reply(w, v, nil)
	})
	mux.HandleFunc("GET /v1/messages/{id}/eml", func(w http.ResponseWriter, r *http.Request) {
		id, ok := parseID(w, r)
		if !ok {
			return
		}
		b, err := s.q.BodyOf(id)
		if err != nil {
			reply(w, nil, messageNotHere(id, err))
			return
		}
		serveExport(w, b) // spoolview.go: whole, or an error the client sees
	})
	mux.HandleFunc("POST /v1/messages/{id}/{action}", s.auditRefusals(func(r *http.Request) (string, string) {
		return auditedAction(r, r.PathValue("action"), r.URL.Query().Get("ndr") == "true"), ""
	}, func(w http.ResponseWriter, r *http.Request) {
		id, ok := parseID(w, r)
		if !ok {
			return
		}
		var err error
		res := map[string]string{"id": id.String()}
		before, _ := s.q.Message(id)
		if r.URL.Query().Get("dry_run") == "true" {
			err = s.checkAction(r.Context(), r.PathValue("action"), id, r.URL.Query().Get("force") == "true")
		} else {
			err = s.messageAction(r, r.PathValue("action"), id, r.URL.Query().Get("ndr") == "true")
			if n := removeNoteNDR(before, r.URL.Query().Get("ndr") == "true"); err == nil && r.PathValue("action") == "remove" && n != "" {
				res["note"] = n // what follows from the removal (view.go)
			}
		}
		if err == nil && r.PathValue("action") == "resume" && before != nil && before.RestoredSuspended() {
			res["note"] = queue.RestoredResumeNote // it may have gone already (queue restoregone.go)
		}
		if errors.Is(err, errUnknownAction) {
			failErr(w, http.StatusNotFound, err)
			return
		}
		reply(w, res, messageNotHere(id, err))
	}))
	mux.HandleFunc("POST /v1/selections/{token}/stop", s.stopSelection) // batches.go
	mux.HandleFunc("POST /v1/messages/{action}", s.auditRefusals(func(r *http.Request) (string, string) {
		return auditedAction(r, r.PathValue("action"), r.URL.Query().Get("ndr") == "true"), queueNameOf(r.URL.Query().Get("queue"))
	}, s.bulk))
	s.quarantineRoutes(mux) // quarantine.go
	return settleFirst(s.q, s.markStopping(mux))
}

// settleFirst has every request wait until the results of attempts
// that already ended are committed, when the queue defers them
// (queue.Manager.Settle): an operator sees and acts on the state the
// deliveries left, not on messages still shown in delivery for the few
// milliseconds their results wait to ride along with another commit.
func settleFirst(q Queue, h http.Handler) http.Handler {
	st, ok := q.(interface{ Settle(context.Context) error })
	if !ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.Settle(r.Context()) // a failed commit shows in what the request reads
		h.ServeHTTP(w, r)
	})
}

// withDumpster answers 404 where the server runs without a dumpster.
func (s *Server) withDumpster(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.dump == nil {
			fail(w, http.StatusNotFound, "no dumpster")
			return
		}
		h(w, r)
	}
}

// messageNotHere names id in err when err is the queue's "no such
// message" (the store does not know which id it was asked of): "no such
// message 0123456789abcdef", still ErrNotFound to errors.Is (404, the
// CLI's exit 3). A refusal in other words (a queue.NotFoundError) and
// any other error pass unchanged.
func messageNotHere(id queue.ID, err error) error {
	var nf *queue.NotFoundError
	if errors.Is(err, queue.ErrNotFound) && !errors.As(err, &nf) {
		return fmt.Errorf("%w %s", err, id)
	}
	return err
}

func parseID(w http.ResponseWriter, r *http.Request) (queue.ID, bool) {
	id, err := queue.ParseID(r.PathValue("id"))
	if err != nil {
		failShown(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return id, true
}

func reply(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		failErr(w, http.StatusNotFound, err)
	case errors.Is(err, queue.ErrBusy):
		failErr(w, http.StatusConflict, err)
	case errors.Is(err, queue.ErrShadowCopy), errors.Is(err, queue.ErrQueueSuspended), errors.Is(err, queue.ErrNotApplicable),
		errors.Is(err, queue.ErrSoundCopyElsewhere):
		failErr(w, http.StatusUnprocessableEntity, err) // the action does not apply: not a server error
	case err != nil:
		failErr(w, http.StatusInternalServerError, err)
	default:
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, v)
	}
}

// failShown is fail for a refusal whose text already names its values
// by the rule for bytes from outside (queue.QuoteShown: an unknown name,
// a malformed message id): passed on as it is, not escaped a second
// time, so that the name shown is the name given.
func failShown(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(jsonsafe.Escape(b), '\n'))
}

// failErr is the refusal err, its text escaped once by its type: an
// error in the text form already (jsonsafe.TextError made by
// jsonsafe.Textf — a redirect target, a filter's value —, a
// queue.UnknownNameError) as it is (failShown), any other by the
// answers' rule (fail). Escaped again, a value's \x0a read \\x0a: the
// text of its escape, not the byte.
func failErr(w http.ResponseWriter, code int, err error) {
	switch err.(type) {
	case *jsonsafe.TextError, *queue.UnknownNameError:
		failShown(w, code, err.Error())
	default:
		fail(w, code, err.Error())
	}
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	writeJSON(w, map[string]string{"error": msg})
}

// writeJSON writes v as one line of JSON with every character a
// terminal or a browser would act on escaped (jsonsafe.Escape) and
// each byte that is not UTF-8 as the text \xNN (textBytes).
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(textBytes(v))
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	w.Write(append(jsonsafe.Escape(b), '\n'))
}

// queryTimes reads the since and until parameters (RFC 3339) of a
// request into since and until, where given; a malformed one is answered
// 400 and false returned.
func queryTimes(w http.ResponseWriter, v url.Values, since, until *time.Time) bool {
	for _, t := range []struct {
		key string
		to  *time.Time
	}{{"since", since}, {"until", until}} {
		if v.Get(t.key) == "" {
			continue
		}
		var err error
		if *t.to, err = dumpster.ParseTime(v.Get(t.key)); err != nil {
			fail(w, http.StatusBadRequest, t.key+": "+err.Error())
			return false
		}
	}
	return true
}

// selectionOf is the filter of a dumpster removal: the database as
// named, the sender, recipient, Message-ID and organisation id as the
// CLI shows them (asGiven).
func selectionOf(v url.Values) dumpster.Selection {
	return dumpster.Selection{Database: v.Get("database"), From: asGiven(v.Get("from")), To: asGiven(v.Get("to")),
		MessageID: asGiven(v.Get("message_id")), OrgID: asGiven(v.Get("org_id"))}
}

// headerText is text fit for a header's value: a control character (a
// newline of an error's text) as \xNN, a byte past ASCII too.
func headerText(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// shadowQueueChecker refuses a queue action on a shadow queue with no
// copy taken over (queue.Manager.CheckShadowQueueAction).
type shadowQueueChecker interface {
	CheckShadowQueueAction(name, action string) error
}
