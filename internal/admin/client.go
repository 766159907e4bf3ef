package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"umbra/internal/dumpster"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// Client talks to a daemon's admin socket.
type Client struct {
	http *http.Client
	path string // the socket (transportErr: is the daemon still there?)
	// probed, when set (tests), is called once the probe of answers is
	// connected, before it waits for the answer.
	probed func()
	// stopping: an answer carried StoppingHeader (Stopping).
	stopping atomic.Bool
	// claimsFailing: the last answer's ClaimsFailingHeader (ClaimsFailing).
	claimsFailing atomic.Pointer[string]
	// stop, once closed, ends a command's batches after the batch in
	// flight (StopBatchesOn).
	stop <-chan struct{}
	// database: the transport database of the daemon behind the socket
	// (SetDatabase), looked at when the socket does not answer.
	database string
	// configFile: the configuration file the socket was read from
	// (SetConfigFile), "" when the socket was named alone.
	configFile string
	// defaultConfig: the command named no configuration and no socket;
	// what it used instead (SetDefaultConfig), "" otherwise.
	defaultConfig string
	// batchTime, when set and shorter than a quarter of the wait, is
	// how long each batch of a command run in batches works
	// (SetBatchTime).
	batchTime time.Duration
}

// SetDatabase names the transport database of the daemon behind the
// socket: when the socket does not answer and another process holds
// that database, the daemon is starting (or a db command runs), not
// "not running" (ErrStarting).
func (c *Client) SetDatabase(path string) { c.database = path }

// ErrStarting means no daemon answers on the socket yet while a process
// holds its transport database: umbra starting (opening its database,
// then getting ready), or an offline db command (compact, restore)
// running. Try again in a moment; starting it again would be refused.
var ErrStarting = errors.New("umbra is starting, not ready yet")

// startingErr is ErrStarting for the holder of the database, or nil
// when no process holds it (not running: ErrUnavailable). A holder that
// listens on a socket made at the path that does not answer there runs
// and has lost its socket's file: ErrSocketGone.
func (c *Client) startingErr() error {
	if c.database == "" {
		return nil
	}
	held, known, pid, cmdline := queue.LockState(c.database)
	if !known {
		// This user may not open the database and the kernel lists no
		// lock on it, which it does not for a holder in another pid
		// namespace (rr-sockadm25 F2): neither "stopped" nor "starting".
		if err := c.startingMarkErr(); err != nil {
			return err
		}
		if err := c.socketGoneErr(0, ""); err != nil {
			return err
		}
		return c.shown(unknownHolderError(fmt.Sprintf("umbra does not answer on the admin socket %s, and whether it holds its transport database %s "+
			"is not known to this user: it may not open it, and the kernel lists no lock on it — as for umbra stopped, but also for umbra "+
			"running in another pid namespace (a container, a unit with private pids); ask as the database's owner or root", c.path, c.database)))
	}
	if !held {
		return nil
	}
	// A daemon that listens on a socket made at the path, which did not
	// answer there: its file was removed or replaced — not starting.
	if err := c.socketGoneErr(pid, cmdline); err != nil {
		return err
	}
	// A ready daemon answering at another socket than the path, as its
	// run file says: the file edited since (rt26c F2), not starting.
	if err := c.elsewhereErr(pid, cmdline); err != nil {
		return err
	}
	switch {
	case strings.Contains(" "+cmdline+" ", " serve "):
		return c.shown(fmt.Errorf("%w: pid %d (%s) holds its transport database %s and its admin socket %s answers once it is ready; "+
			"try again in a moment", ErrStarting, pid, cmdline, c.database, c.path), cmdline)
	case pid != 0:
		return c.shown(startingError(fmt.Sprintf("umbra does not answer on the admin socket %s, and pid %d (%s) holds its transport database %s "+
			"(a db command, or umbra starting): try again once it is done", c.path, pid, cmdline, c.database)), cmdline)
	}
	return c.shown(startingError(fmt.Sprintf("umbra does not answer on the admin socket %s yet, and another process holds its transport database %s "+
		"(umbra starting, or a db command): try again in a moment", c.path, c.database)))
}

// unknownHolderError is ErrUnavailable in words of its own: no answer
// on the socket, and whether a process holds the database not known
// (queue.LockState).
type unknownHolderError string

func (e unknownHolderError) Error() string        { return string(e) }
func (e unknownHolderError) Is(target error) bool { return target == ErrUnavailable }

// startingError is ErrStarting in words of its own: the holder of the
// database is not known to be the daemon.
type startingError string

func (e startingError) Error() string        { return string(e) }
func (e startingError) Is(target error) bool { return target == ErrStarting }

// ErrInterrupted ends a command's batches when the operator asked it to
// stop (StopBatchesOn): the batches answered are counted, the batch in
// flight too, and no further batch is asked for.
var ErrInterrupted = errors.New("interrupted")

// StopBatchesOn makes a command run in batches (BulkActionProgress,
// QueueActionProgress) stop once stop is closed: the batch in flight is
// waited for — the daemon ends it within a quarter of the client's wait
// — and counted, no next batch is asked for, and the sum so far comes
// back with ErrInterrupted.
func (c *Client) StopBatchesOn(stop <-chan struct{}) { c.stop = stop }

// Stopping reports whether an answer this client got said the daemon's
// stop had begun (StoppingHeader): what a command made due goes at the
// daemon's next start, not now.
func (c *Client) Stopping() bool { return c.stopping.Load() }

// ClaimsFailing is why the daemon's claims of due messages fail, as an
// answer said it (ClaimsFailingHeader); "" when no answer did.
func (c *Client) ClaimsFailing() string {
	if v := c.claimsFailing.Load(); v != nil {
		return *v
	}
	return ""
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Path is the admin socket the client talks to.
func (c *Client) Path() string { return c.path }

// APIError is an error the daemon answered with.
type APIError struct {
	Status int
	// Msg is umbra's error text as the daemon sent it: "" for an answer
	// without one — a bare 404 or 405 of a daemon of an older release,
	// which lacks the request (route explain falls back on it), or
	// another program's answer. Error says which it can tell.
	Msg string
	// bare is Error's text for an answer without umbra's error text
	// (Client.apiError).
	bare string
}

func (e *APIError) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.bare != "":
		return e.bare
	}
	return fmt.Sprintf("the daemon answered %d %s without umbra's error text", e.Status, http.StatusText(e.Status))
}

// apiError is the refusal resp (its status not 200) to method path
// carries: umbra's error text; else, another process answering at the
// path while the daemon listens on the socket it made there,
// ErrSocketGone (replacedErr); else an APIError without text (Msg ""),
// whose Error says what answered: the daemon, of a release older than
// this command's when the request is unknown to it (404, 405), or,
// where the process answering is not known to be the daemon, either
// that or another program (rt24c F6: an empty "umbra: " was printed;
// rr25 F5: that text had filled Msg, and route explain no longer told
// an older daemon's bare 404).
func (c *Client) apiError(resp *http.Response, method, path string) error {
	var e struct{ Error string }
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	if e.Error != "" {
		return &APIError{Status: resp.StatusCode, Msg: e.Error}
	}
	if gerr := c.replacedErr(); gerr != nil {
		return gerr
	}
	unknown := resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed
	ae := &APIError{Status: resp.StatusCode}
	pid, daemon := c.daemonAnswers()
	switch {
	case daemon && unknown:
		ae.bare = c.bareText(fmt.Sprintf("the daemon on %s (pid %d) answered %q to %s %s without umbra's error text: it runs a release older than "+
			"this command, which lacks that request (upgrade and restart it, or use the command of its release)", c.path, pid, resp.Status, method, path))
	case daemon:
		ae.bare = c.bareText(fmt.Sprintf("the daemon on %s (pid %d) answered %q to %s %s without umbra's error text (a release older than this "+
			"command?)", c.path, pid, resp.Status, method, path))
	case unknown:
		ae.bare = c.bareText(fmt.Sprintf("the admin socket %s answered %q to %s %s without umbra's error text: a daemon of a release older than "+
			"this command, which lacks that request, or another program's socket", c.path, resp.Status, method, path))
	default:
		ae.bare = c.bareText(fmt.Sprintf("the admin socket %s answered %q to %s %s without umbra's error text (another program's socket, or a "+
			"daemon of an older release)", c.path, resp.Status, method, path))
	}
	return ae
}

// bareText is an answer's text without umbra's error text, in the text
// form (ShownText): the status line as %q wrote it (Go's quoting: the
// byte 0xe9 \xe9) kept as it is.
func (c *Client) bareText(text string) string {
	return ShownText(text, c.path)
}

// ErrUnavailable means no daemon answers on the socket.
var ErrUnavailable = errors.New("umbra is not running (no answer on the admin socket)")

func (c *Client) do(method, path string, q url.Values, out any) error {
	return c.doBody(method, path, q, nil, out)
}

// doBody is do with a request body (nil: none).
func (c *Client) doBody(method, path string, q url.Values, body []byte, out any) error {
	return c.doBodyReached(method, path, q, body, out, false)
}

// doBodyReached is doBody for a request of a command that reached the
// daemon already (a batch after one answered): a daemon found gone,
// its dial failed, stopped during the command rather than "not running"
// (lifert38-F2, transportErr).
func (c *Client) doBodyReached(method, path string, q url.Values, body []byte, out any, reached bool) error {
	u := "http://umbra" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	resp, err := sendTraced(c.http, req)
	if err != nil && reached {
		err = &reachedDaemon{err}
	}
	if err != nil {
		return c.requestErr(err, method, path)
	}
	defer resp.Body.Close()
	// An error answer is told by its body (apiError); an answer taken
	// as a result must be umbra's.
	if resp.StatusCode == http.StatusOK && resp.Header.Get(AdminHeader) == "" {
		if err := c.unmarkedAnswerErr(method, path); err != nil {
			return err
		}
	}
	if resp.Header.Get(StoppingHeader) != "" {
		c.stopping.Store(true)
	}
	if v := resp.Header.Get(ClaimsFailingHeader); v != "" {
		c.claimsFailing.Store(&v)
	}
	if resp.StatusCode != http.StatusOK {
		return c.apiError(resp, method, path)
	}
	var fileErr error
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(&failedWriter{w: w, err: &fileErr}, resp.Body)
		if fileErr != nil {
			return fileErr // w's own failure (a full disk), not the daemon's
		}
	} else if out != nil {
		err = json.NewDecoder(resp.Body).Decode(out)
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syn) || errors.As(err, &typ) {
			// An answer that is not umbra's: another program's socket
			// at the path, named so (rt33c F4), not Go's words alone.
			return c.notUmbraAnswerErr(method, path, err)
		}
	}
	if err != nil && cutShort(err) {
		err = c.requestErr(err, method, path)
	}
	return err
}

func (c *Client) Status() (Status, error) {
	var s Status
	if err := c.do("GET", "/v1/status", nil, &s); err != nil {
		return s, err
	}
	if s.Server == "" && s.DatabaseID == "" {
		if err := c.notUmbraStatusErr(); err != nil {
			return Status{}, err
		}
	}
	return s, nil
}

// RunningConfig asks the daemon which configuration file it runs (GET
// /v1/status, config_file): its absolute path as the daemon was started
// with it, "" for the embedded default. known is false when the daemon
// does not say (a release whose status has no config_file): the CLI then
// cannot tell whether it runs the file the command was given.
func (c *Client) RunningConfig() (file string, known bool, err error) {
	var raw map[string]json.RawMessage
	if err := c.do("GET", "/v1/status", nil, &raw); err != nil {
		return "", false, err
	}
	v, ok := raw["config_file"]
	if _, server := raw["server"]; !ok && !server {
		// Not a daemon that does not name its configuration, when no
		// umbra answers (rt33c F4).
		if err := c.notUmbraStatusErr(); err != nil {
			return "", false, err
		}
	}
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(v, &file); err != nil {
		return "", false, err
	}
	// The answer's text rule undone, as for LoadedConfig.
	return jsonsafe.FromTextBytes(file), true, nil
}

// LoadedConfig asks the daemon for the configuration it runs.
func (c *Client) LoadedConfig() (LoadedConfig, error) {
	var l LoadedConfig
	if err := c.do("GET", "/v1/config", nil, &l); err != nil {
		return l, err
	}
	// The answer's text rule (TextBytes) undone: the file's name and
	// text as the daemon read them, compared with a path given here and
	// parsed again (a name's byte that is not UTF-8, a value's literal
	// \xNN, would otherwise read as another file, another value).
	l.File, l.Config = jsonsafe.FromTextBytes(l.File), jsonsafe.FromTextBytes(l.Config)
	l.TopologyFile, l.Topology = jsonsafe.FromTextBytes(l.TopologyFile), jsonsafe.FromTextBytes(l.Topology)
	return l, nil
}

// ReloadCheck asks the daemon whether its SIGHUP reload would take the
// configuration file at the absolute path file: each refusal at
// file:line in the reload's words, none when it would. Nothing is
// applied.
func (c *Client) ReloadCheck(file string) ([]string, error) {
	var rc ReloadCheck
	if err := c.doBody("POST", "/v1/config/check", nil, []byte(file), &rc); err != nil {
		return nil, err
	}
	for i := range rc.Refusals {
		rc.Refusals[i] = jsonsafe.FromTextBytes(rc.Refusals[i]) // the answer's text rule undone, as for LoadedConfig
	}
	return rc.Refusals, nil
}

// TLSPolicy asks the daemon which outbound TLS policy applies to domain
// (the JSON of tlspolicy.Explanation) into out.
func (c *Client) TLSPolicy(domain string, out any) error {
	return c.do("GET", "/v1/tlspolicy/"+url.PathEscape(domain), nil, out)
}

// SelfCheck asks the daemon which next hops of send connector
// connector for domain are this server (the JSON of delivery.SelfCheck)
// into out.
func (c *Client) SelfCheck(connector, domain string, out any) error {
	return c.do("GET", "/v1/selfcheck/"+url.PathEscape(connector)+"/"+url.PathEscape(domain), nil, out)
}

// SelfCheckHosts is SelfCheck with smartHosts as the connector's smart
// hosts (none: MX), those of a topology file the daemon does not run.
func (c *Client) SelfCheckHosts(connector, domain string, smartHosts []string, out any) error {
	q := url.Values{"hosts": {"given"}, "smart_host": smartHosts}
	return c.do("GET", "/v1/selfcheck/"+url.PathEscape(connector)+"/"+url.PathEscape(domain), q, out)
}

func (c *Client) Queues() ([]queue.QueueInfo, error) {
	var qs []queue.QueueInfo
	return qs, c.do("GET", "/v1/queues", nil, &qs)
}

// Destinations lists the scheduler's destinations with their windows.
func (c *Client) Destinations() ([]queue.DestinationInfo, error) {
	var ds []queue.DestinationInfo
	return ds, c.do("GET", "/v1/destinations", nil, &ds)
}

// QueueAction is suspend, resume, retry or redirect (to is the target
// of a redirect).
func (c *Client) QueueAction(name, action, to string) (rescheduled int, err error) {
	return c.QueueActionProgress(name, action, to, nil)
}

// QueueActionProgress is QueueAction; action "flush" (name "") is Flush.
// A resume, retry, redirect or flush runs in batches (QueueResult), one
// request each, every batch asked to end within a quarter of the
// client's wait, until none is left, and returns the sum of their
// counts. After each batch but the last it calls progress, when set,
// with the sum so far. On an error it returns the sum of the batches
// finished before it with the error.
func (c *Client) QueueActionProgress(name, action, to string, progress func(sum int)) (rescheduled int, err error) {
	sum, err := c.QueueActionTotals(name, action, to, progress)
	return sum.Rescheduled, err
}

// QueueActionTotals is QueueActionProgress returning the sums of its
// batches' answers (QueueResult: Rescheduled, KeptRequireTLS,
// KeptInDelivery, and a resume's Released per destination).
func (c *Client) QueueActionTotals(name, action, to string, progress func(sum int)) (sum QueueResult, err error) {
	q := url.Values{}
	if to != "" {
		q.Set("to", to)
	}
	path := "/v1/queues/" + url.PathEscape(name) + "/" + action
	if action == "flush" {
		path = "/v1/flush"
	}
	if action == "suspend" {
		err := c.do("POST", path, q, &sum)
		return sum, err
	}
	err = runBatches(c, path, q, func(out QueueResult) batchCursor {
		sum.Rescheduled += out.Rescheduled
		sum.KeptRequireTLS += out.KeptRequireTLS
		sum.KeptInDelivery += out.KeptInDelivery
		sum.HeldEach += out.HeldEach // counted by the first batch
		sum.HeldRestored += out.HeldRestored
		sum.ShadowHeld += out.ShadowHeld // counted by the first batch
		for k, n := range out.Released {
			if sum.Released == nil {
				sum.Released = map[string]int{}
			}
			sum.Released[k] += n
		}
		return batchCursor{out.Next, out.Through, out.Selection}
	}, func() {
		if progress != nil {
			progress(sum.Rescheduled)
		}
	})
	return sum, err
}

// batchCursor is where a command's next batch starts (BulkResult,
// QueueResult): after Next, up to Through, from Selection; Next ""
// when none is left.
type batchCursor struct{ Next, Through, Selection string }

// runBatches runs a command's batches, one request each, every batch
// asked to end within a quarter of the client's wait, until none is
// left: add takes each answer and says where the next starts; progress
// is called after each batch but the last.
func runBatches[T any](c *Client, path string, q url.Values, add func(T) batchCursor, progress func()) error {
	return runBatchesBody(c, path, q, nil, add, progress)
}

// runBatchesBody is runBatches whose first request carries body (the
// ids a command gives: they are selected once, by its first batch).
func runBatchesBody[T any](c *Client, path string, q url.Values, body []byte, add func(T) batchCursor, progress func()) error {
	if d := c.batchMaxTime(); d > 0 {
		q.Set("max_time", d.String())
	}
	for answered := false; ; answered = true {
		var out T
		if err := c.doBodyReached("POST", path, q, body, &out, answered); err != nil {
			return err
		}
		body = nil
		next := add(out)
		if next.Next == "" {
			return nil
		}
		select {
		case <-c.stop:
			// The command asks for no further batch: said to the daemon,
			// which writes its line now (`cut short, no further batch
			// asked for`) rather than when it forgets the selection — a
			// kill of the daemon in between would leave the cut to be
			// told as its stop's (rt24c F10). A daemon that does not
			// take it (an older release) writes the line then.
			c.do("POST", "/v1/selections/"+url.PathEscape(next.Selection)+"/stop", nil, nil)
			return ErrInterrupted
		default:
		}
		progress()
		q.Set("after", next.Next)
		q.Set("through", next.Through)
		q.Set("selection", next.Selection)
	}
}

func (c *Client) Messages(f queue.MessageFilter) ([]MessageView, error) {
	var ms []MessageView
	return ms, c.do("GET", "/v1/messages", filterQuery(f), &ms)
}

func filterQuery(f queue.MessageFilter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"queue": f.Queue, "from": f.From, "to": f.To, "state": f.State, "domain": f.Domain} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.OlderThan > 0 {
		q.Set("older_than", f.OlderThan.String())
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	return q
}

// BulkAction carries out a message action (suspend, resume, remove,
// retry) on every message f selects (all: every message, when f is
// empty); dryRun only lists them.
func (c *Client) BulkAction(action string, f queue.MessageFilter, all, dryRun, ndr bool) (BulkResult, error) {
	return c.BulkActionForce(action, f, all, dryRun, ndr, false)
}

// BulkActionForce is BulkAction; force (remove --force) removes shadow
// copies too, which a removal skips otherwise.
//
// It runs the action in batches (BulkResult), one request each, every
// batch asked to end within a quarter of the client's wait, until none
// is left, and returns their sum. After each batch but the last it calls
// progress, when set, with the sum so far. On an error it returns the
// sum of the batches finished before it with the error: those were
// done; the batch in flight may have done part of its messages, each
// whole (its own commit); a new run takes what is left.
func (c *Client) BulkActionForce(action string, f queue.MessageFilter, all, dryRun, ndr, force bool) (BulkResult, error) {
	return c.BulkActionProgress(action, f, all, dryRun, ndr, force, nil)
}

// BulkActionProgress is BulkActionForce with progress.
func (c *Client) BulkActionProgress(action string, f queue.MessageFilter, all, dryRun, ndr, force bool, progress func(BulkResult)) (BulkResult, error) {
	q := filterQuery(f)
	for k, on := range map[string]bool{"all": all, "dry_run": dryRun, "ndr": ndr, "force": force} {
		if on {
			q.Set(k, "true")
		}
	}
	sum := BulkResult{Action: action, DryRun: dryRun, Done: []string{}}
	err := runBatches(c, "/v1/messages/"+url.PathEscape(action), q, sum.add, func() {
		if progress != nil {
			progress(sum)
		}
	})
	return sum, err
}

// BulkActionIDs carries out a message action on the messages ids name
// (message ACTION ID... and -), in batches as BulkActionProgress: the
// ids go once, with the first batch, and many messages share a commit,
// instead of one request and one commit per id. The sum tells each id's
// outcome: Done (changed), Unchanged (nothing to do on it, by reason:
// already in that state), NotFound, Failed (refused). An id that is no
// message id is not found without asking the daemon.
func (c *Client) BulkActionIDs(action string, ids []string, dryRun, ndr, force bool, progress func(BulkResult)) (BulkResult, error) {
	q := url.Values{"given": {"true"}}
	for k, on := range map[string]bool{"dry_run": dryRun, "ndr": ndr, "force": force} {
		if on {
			q.Set(k, "true")
		}
	}
	sum := BulkResult{Action: action, DryRun: dryRun, Done: []string{}}
	var body bytes.Buffer
	bad := 0
	seen := make(map[queue.ID]bool, len(ids))
	for _, id := range ids {
		qid, err := queue.ParseID(id)
		switch {
		case err != nil:
			sum.Matched++
			bad++
			sum.NotFound = append(sum.NotFound, id)
		case !seen[qid]:
			seen[qid] = true
			body.WriteString(qid.String())
			body.WriteByte('\n')
		}
	}
	if body.Len() == 0 {
		return sum, nil
	}
	err := runBatchesBody(c, "/v1/messages/"+url.PathEscape(action), q, body.Bytes(), sum.add, func() {
		if progress != nil {
			progress(sum)
		}
	})
	if sum.Selected > 0 {
		sum.Selected += bad // the daemon counts the ids it was sent
	}
	return sum, err
}

// add adds a batch's answer to the sum of a command's batches and says
// where the next starts.
func (sum *BulkResult) add(out BulkResult) batchCursor {
	sum.Matched += out.Matched
	sum.Selected = max(sum.Selected, out.Selected)
	sum.Done = append(sum.Done, out.Done...)
	sum.Failed = append(sum.Failed, out.Failed...)
	sum.NotFound = append(sum.NotFound, out.NotFound...)
	sum.Unchanged = append(sum.Unchanged, out.Unchanged...)
	sum.Notes = append(sum.Notes, out.Notes...)
	sum.Takes = append(sum.Takes, out.Takes...)
	sum.OtherQueues += out.OtherQueues
	for why, n := range out.Skipped {
		if sum.Skipped == nil {
			sum.Skipped = map[string]int{}
		}
		sum.Skipped[why] += n
	}
	for why, n := range out.NoDSN {
		if sum.NoDSN == nil {
			sum.NoDSN = map[string]int{}
		}
		sum.NoDSN[why] += n
	}
	return batchCursor{out.Next, out.Through, out.Selection}
}

// SetTimeout sets how long the client waits for one answer (30 s
// unless set); a bulk action asks for batches of a quarter of it.
func (c *Client) SetTimeout(d time.Duration) { c.http.Timeout = d }

// SetBatchTime makes each batch of a command run in batches (a bulk
// message action, queue resume, retry, redirect, flush) work for d
// (max_time), when d is shorter than a quarter of the wait for an
// answer: smaller batches, each holding the daemon's one batch slot for
// less time. It never makes them longer: a batch must answer within
// the wait.
func (c *Client) SetBatchTime(d time.Duration) { c.batchTime = d }

// batchMaxTime is the max_time a batch asks for: a quarter of the wait
// (the rest is the margin for its last commit and for scheduling), or
// the batch time set when shorter; 0 (the daemon's default) without a
// wait.
func (c *Client) batchMaxTime() time.Duration {
	d := c.http.Timeout / 4
	if c.batchTime > 0 && (d <= 0 || c.batchTime < d) {
		d = c.batchTime
	}
	return d
}

// Flush makes every waiting message due now (in batches:
// QueueActionProgress).
func (c *Client) Flush() (int, error) { return c.QueueActionProgress("", "flush", "", nil) }

// Message is a message's view, naming its first RecipientsShown
// recipients and counting the rest (MessageView.RecipientsMore).
func (c *Client) Message(id string) (MessageView, error) {
	var m MessageView
	return m, c.do("GET", "/v1/messages/"+url.PathEscape(id), nil, &m)
}

// MessageAll is Message naming every recipient (message show --all,
// an export's envelope), not the first RecipientsShown.
func (c *Client) MessageAll(id string) (MessageView, error) {
	var m MessageView
	return m, c.do("GET", "/v1/messages/"+url.PathEscape(id), url.Values{"recipients": {"all"}}, &m)
}

// MessageAction is suspend, resume, remove or retry.
func (c *Client) MessageAction(id, action string, ndr bool) error {
	return c.MessageActionForce(id, action, ndr, false)
}

// MessageActionForce is MessageAction; force (remove --force) removes a
// shadow copy too, which a removal refuses otherwise.
func (c *Client) MessageActionForce(id, action string, ndr, force bool) error {
	_, err := c.MessageActionNoted(id, action, ndr, force)
	return err
}

// MessageActionNoted is MessageActionForce that also returns what the
// server says follows from the action ("" when nothing): the removal
// of a damaged shadow copy names what its primary does.
func (c *Client) MessageActionNoted(id, action string, ndr, force bool) (string, error) {
	q := url.Values{}
	if ndr {
		q.Set("ndr", "true")
	}
	if force {
		q.Set("force", "true")
	}
	var res struct {
		Note string `json:"note"`
	}
	err := c.do("POST", "/v1/messages/"+url.PathEscape(id)+"/"+action, q, &res)
	return res.Note, err
}

// CheckMessageAction is MessageAction's dry run: the refusal the
// action would answer for message id now (nil: it would be carried
// out); nothing is changed.
func (c *Client) CheckMessageAction(id, action string) error {
	return c.CheckMessageActionForce(id, action, false)
}

// CheckMessageActionForce is CheckMessageAction of remove --force.
func (c *Client) CheckMessageActionForce(id, action string, force bool) error {
	_, err := c.CheckMessageActionNoted(id, action, force)
	return err
}

// CheckMessageActionNoted is CheckMessageActionForce with what would
// follow from the action (a resume of a message a restore holds: it may
// have gone already), as MessageActionNoted answers it.
func (c *Client) CheckMessageActionNoted(id, action string, force bool) (string, error) {
	q := url.Values{"dry_run": {"true"}}
	if force {
		q.Set("force", "true")
	}
	var res struct {
		Note string `json:"note"`
	}
	err := c.do("POST", "/v1/messages/"+url.PathEscape(id)+"/"+action, q, &res)
	return res.Note, err
}

// DumpsterSummaries lists every database's dumpster.
func (c *Client) DumpsterSummaries() ([]dumpster.Summary, error) {
	var out []dumpster.Summary
	return out, c.do("GET", "/v1/dumpster", nil, &out)
}

// DumpsterList lists database db's copies kept since since (zero: all).
func (c *Client) DumpsterList(db string, since time.Time, limit int) ([]dumpster.Entry, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var out []dumpster.Entry
	return out, c.do("GET", "/v1/dumpster/"+url.PathEscape(db), q, &out)
}

// Redeliver asks for the redelivery of database db's copies since since.
func (c *Client) Redeliver(requestID, db string, since time.Time) (Redelivery, error) {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "request_id": {requestID}}
	var out Redelivery
	return out, c.do("POST", "/v1/dumpster/"+url.PathEscape(db)+"/redeliver", q, &out)
}

// RedeliverAgo asks for the redelivery of database db's copies kept
// since ago before the request's start (its first call's, for a retry).
func (c *Client) RedeliverAgo(requestID, db string, ago time.Duration) (Redelivery, error) {
	q := url.Values{"since_ago": {ago.String()}, "request_id": {requestID}}
	var out Redelivery
	return out, c.do("POST", "/v1/dumpster/"+url.PathEscape(db)+"/redeliver", q, &out)
}

// DumpsterRemove removes the dumpster copies ids and the filter select
// (keys of POST /v1/dumpster/remove: database, since, until, from, to,
// message_id, org_id; confirm=true for a removal without ids, dry_run=true
// to list only).
func (c *Client) DumpsterRemove(ids []string, filter url.Values) (DumpsterRemoval, error) {
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q["id"] = ids
	var out DumpsterRemoval
	return out, c.do("POST", "/v1/dumpster/remove", q, &out)
}

// Track searches the tracking log.
func (c *Client) Track(q tracking.Query) ([]tracking.Entry, error) {
	v := url.Values{}
	for k, val := range map[string]string{"id": q.ID, "sender": q.Sender, "recipient": q.Recipient} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	v["event"] = q.Events
	var es []tracking.Entry
	return es, c.do("GET", "/v1/track", v, &es)
}

// SingleCopies lists the messages held by this server only: their
// shadow copy was lost, or not made (GET /v1/shadows/single).
func (c *Client) SingleCopies() ([]SingleCopyView, error) {
	var vs []SingleCopyView
	return vs, c.do("GET", "/v1/shadows/single", nil, &vs)
}

// UnreachedHolders lists the shadow servers no probe reached since the
// daemon's start, with the messages whose copy they hold (GET
// /v1/shadows/unreached).
func (c *Client) UnreachedHolders() ([]UnreachedHolder, error) {
	var vs []UnreachedHolder
	return vs, c.do("GET", "/v1/shadows/unreached", nil, &vs)
}

// ForgetDatabaseID forgets the transport database id dbID met as a
// server's, returning the servers it was met as (POST
// /v1/shadows/databases/{id}/forget).
func (c *Client) ForgetDatabaseID(dbID string) ([]string, error) {
	var out struct {
		Was []string `json:"was"`
	}
	err := c.do("POST", "/v1/shadows/databases/"+url.PathEscape(dbID)+"/forget", nil, &out)
	return out.Was, err
}

// Shadows lists the primaries this server holds shadow copies for.
func (c *Client) Shadows() ([]ShadowView, error) {
	var vs []ShadowView
	return vs, c.do("GET", "/v1/shadows", nil, &vs)
}
