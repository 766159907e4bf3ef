package delivery

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"umbra/internal/config"
	"umbra/internal/filelimit"
	"umbra/internal/mailaddr"
	"umbra/internal/mailbox"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/signing"
	"umbra/internal/tlspolicy"
)

// Resolver is the DNS the deliverer needs: umbra's one resolver
// (resolver.Cache) in a server; *net.Resolver implements it too.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// peerWaitResolver marks every lookup as a wait on a peer (the DNS
// resolver; queue.AwaitingPeer): it runs none of umbra's code on the
// message, and a crash while a delivery only waits on a slow or dead
// resolver must not count against it (the poison queue).
type peerWaitResolver struct{ r Resolver }

func (p peerWaitResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	defer queue.AwaitingPeer(ctx)()
	return p.r.LookupMX(ctx, name)
}

func (p peerWaitResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	defer queue.AwaitingPeer(ctx)()
	return p.r.LookupHost(ctx, host)
}

// noResolver is the Resolver of a Deliverer built without one (tests of
// literal addresses, the simulation): every lookup is a temporary error,
// so nothing reaches the system's DNS behind umbra's resolver and a
// missing wiring defers rather than bounces.
type noResolver struct{}

func (noResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no resolver configured", Name: name, IsTemporary: true}
}

func (noResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	return nil, &net.DNSError{Err: "no resolver configured", Name: host, IsTemporary: true}
}

// Config configures a Deliverer.
type Config struct {
	Hostname string
	Routing  *routing.Table
	// SendConnectors are the configuration's send_connectors, in
	// order: a password file one names that does not load is a
	// config.FileError at its setting (send_connectors[i]…).
	SendConnectors []config.SendConnector
	Mailbox        config.Mailbox
	Resolver       Resolver
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	// ShadowHeartbeatTimeout is transport.shadow_heartbeat_timeout: the
	// interval of the probes of the holders (shadow.Holders), which ask
	// what a holder has in delivery (busyHold).
	ShadowHeartbeatTimeout time.Duration
	// MXLookupTimeout bounds the MX and address lookups of one delivery
	// attempt together (transport.mx_lookup_timeout; 0: the default,
	// config.DefaultMXLookupTimeout).
	MXLookupTimeout time.Duration
	// MaxConnectionsPerDestination applies where a connector sets none:
	// Plan leaves it to the scheduler (Job.Max 0), which holds the same
	// value and moves it at a reload (rt22a L1).
	MaxConnectionsPerDestination int
	// TLSConfig is the base for outbound TLS: the client certificate, and
	// RootCAs, the CAs every certificate check of a next hop trusts (nil:
	// the system roots; serve adds outbound_tls.ca_file and the
	// organisation CA of tls.client_ca_file; tests add their CA).
	TLSConfig *tls.Config
	// TLSPolicy, when set, applies the destination domains' DANE and
	// MTA-STS policies to MX routes and counts TLS-RPT results (tlsout.go).
	TLSPolicy *tlspolicy.Engine
	// Suspended reports whether the operator suspended a queue; its
	// recipients are returned Held without a connection.
	Suspended func(queue string) bool
	// Topology, when set, routes every recipient that is not delivered
	// into the local mailbox store, as the server named LocalServer.
	Topology    *routing.Topology
	LocalServer string
	// ShadowServerID, when set, is this server's id in shadow sessions:
	// relays inside the organisation and send connectors with
	// send_xshadow open one when the next hop offers XSHADOW. Shadows
	// hears of every session with a primary (contact and discards).
	ShadowServerID string
	Shadows        Shadows
	// OwedPushID, when ShadowServerID is empty (shadow redundancy off
	// here), is this server's id all the same for handing the discard
	// notifications it still owes to the holders of copies made while it
	// was on (owedpush.go): their queries are refused here now.
	OwedPushID string
	// WatchID, when ShadowServerID is empty (shadow redundancy off
	// here), is this server's id all the same in the sessions it opens
	// as the holder of copies kept from before (heartbeats, watch
	// sessions, reconciliation: watchID): the switch stops new copies,
	// never the watching of those held (sites49 F1). Nothing else uses
	// it: no copy is made nor relayed under it.
	WatchID string
	// ShadowRetriesRemote and ShadowRetriesLocal are the tries of a
	// shadow copy on receipt at servers of other sites and of this one
	// (receipt.go; max_retries_remote_site_shadow, …_local_site_shadow).
	ShadowRetriesRemote, ShadowRetriesLocal int
	// SourceAddress is the local IP address outbound connections bind
	// to, unless their send connector names its own (source.go).
	SourceAddress string
	// Dedup, when set, is asked before every final delivery: it
	// suppresses a message (by organisation message id) that already
	// reached the recipient's mailbox database, and holds back a copy
	// while another is being delivered (SR-11; queue.FinalClaims, built
	// before the deliverer and given to the queue manager too).
	Dedup Dedup
	Log   *slog.Logger
	// Health is the scheduler's record of servers that did not answer
	// (queue.Manager.Health); nil makes one of the deliverer's own.
	Health *queue.Health
	// OwnBindings are the host:port addresses this server's receive
	// connectors listen on: a next hop at one of them is this server
	// itself (self.go, loopsToSelf).
	OwnBindings []string
	// MaxHopCount: a message with more Received: headers is not relayed
	// but fails with 5.4.6 (a mail loop); 0 means no bound.
	MaxHopCount int
	// Dial, when set, opens every outbound connection instead of a
	// net.Dialer (source addresses do not apply): the in-process
	// simulation's network (internal/sim).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Signer, when set, signs (DKIM) and seals (ARC) every copy that
	// leaves the organisation (sign.go); nil sends them as stored.
	Signer *signing.Signer
}

// Dedup is the record of final deliveries.
type Dedup interface {
	ClaimFinal(id queue.ID, database, orgID, rcpt string) queue.Claim
}

// Shadows is told of every session with a primary (shadow.Manager):
// Presented of an XSHADOW reply or of the batches a broken query read,
// Contact of a completed discard query (only that resets the heartbeat
// timer, SR-5). Each returns once its commit is durable, or the error:
// a session sends the primary no further command before (SR-15).
//
// mark is the rollback mark the reply listing discards presented (the
// client's DiscardMark; 0 for none): an early discard is kept under it
// (queue AddEarlyDiscard).
type Shadows interface {
	Contact(primary, dbID string, mark uint64, discards []string) error
	Presented(primary, dbID string, mark uint64, discards []string) error
}

// MarkRecorder is the part of Shadows that compares a primary's rollback
// marks (shadow.Recorder.MarkSeen; shadow verbs version 7): every
// session this server opens to another transport server hands it the
// marks the peer presents, before the session saves anything else.
type MarkRecorder interface {
	MarkFloor(primary string) (mark uint64, dbID string)
	MarkSeen(primary, dbID string, mark, floor uint64, floorDB string)
}

// Deliverer implements queue.Deliverer: it groups a message's recipients
// by next hop and delivers each group over one connection.
type Deliverer struct {
	st  atomic.Pointer[state] // swapped whole by Reload
	log *slog.Logger
	bal *balancer

	// outbound counts sessions by TLS outcome (SetOutbound, tlsobserve.go).
	outbound OutboundObserver
	// signing counts DKIM and ARC results (SetSigning, sign.go).
	signing SigningObserver
	// panics counts and logs recovered panics (SetPanics, panics.go).
	panics panicLog

	rcpts atomic.Pointer[rcptHolder] // SetRecipients (verify.go)

	// stopGrace is stopReplyGrace; a test whose next hop is slowed on
	// purpose sets it longer, so that what it shows does not depend on
	// how fast a loaded machine runs that next hop.
	stopGrace time.Duration

	// selfDB is this server's transport database id (self.go).
	selfDB atomic.Pointer[string]

	// presenter presents this server's rollback mark and database id in
	// the shadow sessions of its relays (ReceiptShadow.WithHolders).
	presenter atomic.Pointer[ReceiptShadow]

	// health deprioritises servers that failed a heartbeat (SR-16): the
	// scheduler's record (Config.Health).
	health *queue.Health

	// turns: one LMTP transaction at a time per recipient mailbox
	// (mailboxturn.go).
	turns mailboxTurns

	mu   sync.Mutex
	idle map[string][]*pooled // reusable connections per destination

	// statedWarned: the next hop servers (topology name NUL stated
	// name) already WARNed as stating another name than the topology's
	// (statedname.go): once per pair in a process.
	statedWarned sync.Map
	// orgLoopWarned: when a pair of servers (this one NUL the one a
	// message came back from) was last WARNed as disagreeing (orgloop.go).
	orgLoopWarned sync.Map
}

// state is what a configuration determines; an attempt uses the state
// it started with.
type state struct {
	cfg     Config
	conns   map[string]*sendConnector
	maildir *mailbox.Maildir
}

type sendConnector struct {
	cfg      config.SendConnector
	password string
	// redirect: an operator's redirect, with the settings of the
	// connector named in cfg (redirectConnector).
	redirect bool
	// borrows: the send connector whose settings a redirect borrows,
	// "" for one no connector routes (cfg.Name "redirect" then, a name
	// the configuration reserves for it: config.ReservedConnectorName;
	// a file of an earlier release may have used it, so redirect, not
	// the name, tells the two apart): its pool (groupID).
	borrows string
}

// destination is the connector's name in the outbound metrics: "redirect"
// for an operator's redirect whatever connector's settings it borrows,
// as umbra_delivery_results_total counts its results (metrics.Destination).
func (sc *sendConnector) destination() string {
	if sc.redirect {
		return "redirect"
	}
	return sc.cfg.Name
}

// New prepares a Deliverer, reading smart-host passwords now so that a
// missing file fails the start.
func New(cfg Config) (*Deliverer, error) {
	st, err := newState(cfg)
	if err != nil {
		return nil, err
	}
	d := &Deliverer{log: st.cfg.Log, bal: newBalancer(), health: st.cfg.Health, idle: map[string][]*pooled{}, stopGrace: stopReplyGrace}
	d.st.Store(st)
	return d, nil
}

func newState(cfg Config) (*state, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = noResolver{}
	}
	if _, ok := cfg.Resolver.(peerWaitResolver); !ok {
		cfg.Resolver = peerWaitResolver{cfg.Resolver}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.MaxConnectionsPerDestination <= 0 {
		cfg.MaxConnectionsPerDestination = 10
	}
	if cfg.Health == nil {
		cfg.Health = queue.NewHealth()
	}
	if cfg.Mailbox.Database == "" {
		cfg.Mailbox.Database = config.DefaultMailboxDatabase
	}
	st := &state{cfg: cfg, conns: map[string]*sendConnector{}}
	for i, sc := range cfg.SendConnectors {
		c := &sendConnector{cfg: InheritTopology(sc, cfg.Topology)}
		var err error
		if c.password, err = Password(i, sc); err != nil {
			return nil, err
		}
		st.conns[sc.Name] = c
	}
	if cfg.Mailbox.Maildir != "" {
		st.maildir = &mailbox.Maildir{Root: cfg.Mailbox.Maildir, Hostname: cfg.Hostname}
	}
	if err := st.checkSourceAddresses(); err != nil {
		return nil, err
	}
	return st, nil
}

// InheritTopology is configured send connector sc as it serves the
// topology's connector of the same name: the configuration gives its
// settings (port, TLS, auth, source address, send_xshadow, limits) and
// what it does not write is the topology's — its smart hosts and its
// max_message_size. A configured connector without smart_hosts does not
// turn the topology's smart-host connector into an MX lookup
// (rt17e-F3). Without a topology, or a topology connector of that name,
// sc is unchanged.
func InheritTopology(sc config.SendConnector, topo *routing.Topology) config.SendConnector {
	if topo == nil {
		return sc
	}
	tc, ok := topo.Connector(sc.Name)
	if !ok {
		return sc
	}
	if len(sc.SmartHosts) == 0 {
		sc.SmartHosts = slices.Clone(tc.SmartHosts)
	}
	if sc.MaxMessageSize == 0 {
		sc.MaxMessageSize = config.Size(tc.MaxSize)
	}
	return sc
}

// redirectConnector is the connector for an operator's redirect of
// rcpt (of domain): the settings (TLS, auth, port) of the connector that
// routes it (leavingConnector), if any, with the target as its only
// smart host.
func (st *state) redirectConnector(domain, rcpt, target string) *sendConnector {
	c := &sendConnector{cfg: config.SendConnector{Name: "redirect", Port: config.DefaultSMTPPort, TLS: config.TLSOpportunistic}}
	if sc := st.leavingConnector(domain, rcpt); sc != nil {
		cp := *sc
		c = &cp
		c.borrows = sc.cfg.Name
	}
	c.cfg.SmartHosts = []string{target}
	c.cfg.MaxMessageSize = 0
	c.redirect = true
	return c
}

// Reload swaps in a new configuration (passwords are read again). Attempts
// under way finish with the old one; pooled connections are closed, since
// a connector's hosts, TLS setting or credentials may have changed, and a
// session those attempts finish with is closed rather than pooled
// (finishConn).
func (d *Deliverer) Reload(cfg Config) error {
	if cfg.Dedup == nil { // given at construction (queue.FinalClaims): it survives reloads
		cfg.Dedup = d.st.Load().cfg.Dedup
	}
	if cfg.Health == nil {
		cfg.Health = d.health
	}
	if cfg.TLSPolicy == nil { // built once at start, with its cache (outbound_tls needs a restart)
		cfg.TLSPolicy = d.st.Load().cfg.TLSPolicy
	}
	if cfg.Resolver == nil { // built once at start: dns settings need a restart
		cfg.Resolver = d.st.Load().cfg.Resolver
	}
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	prev := d.st.Swap(st)
	d.forgetOutbound(prev, st)
	d.knownOutbound(st)
	d.mu.Lock()
	idle := d.idle
	d.idle = map[string][]*pooled{}
	d.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			go d.endSession(pc.c)
		}
	}
	return nil
}

// ReloadCommitted tells the deliverer that the configuration of its last
// Reload is in force for good (the reload of every other part
// succeeded): the refusals of the shadow sessions of servers its
// topology no longer lists are dropped then (ReceiptShadow pruneRemoved),
// not at Reload itself — a reload that fails later gives the deliverer
// its running configuration back, and must not have dropped the
// refusals of the servers it would have removed.
func (d *Deliverer) ReloadCommitted() {
	if r := d.presenter.Load(); r != nil {
		r.pruneRemoved()
	}
}

// RunningConfig is the configuration in force (as New or the last
// Reload made it): a reload that fails after the Deliverer took the new
// one gives it back to Reload as it ran — its topology with the host
// names resolved at its load — and a reload reads the running
// topology's resolved addresses from it.
func (d *Deliverer) RunningConfig() Config { return d.st.Load().cfg }

// group is the recipients of one message that share a next hop.
type group struct {
	key   string // destination: "local", "connector:NAME" or "connector:NAME/domain"
	queue string // the queue it is shown in: "mailbox:DATABASE", "smarthost:NAME", "mx:domain"
	conn  *sendConnector
	dom   string
	hops  []routing.NextHop // an organisation route (relay, mailbox, legacy)
	db    string            // the mailbox database of a final delivery
	rcpts []int
}

// Deliver implements queue.Deliverer. Every copy it sends or writes
// inside the organisation carries the organisation message id in front
// (package orgid): the next hop, a shadow server's takeover, LMTP's
// Sieve and a Maildir reader all see the same identity. A copy that
// leaves the organisation carries no umbra header (leavesOrganisation). It does not wait for connection
// slots: the queue manager's scheduler starts a job only when its
// destination's window has room (Plan names the destinations).
// idOnlyAtFinalDelivery reports whether m, delivered into a mailbox,
// gets its organisation id line only: a message with the null reverse
// path (a DSN, umbra's or another server's) carries no other X-Umbra-
// field into a mailbox (README, Delivery) — no origin, no arrival, no
// repeat mark. Its id is its own (a DSN's record gets a fresh one,
// queue Tx.PutNew), never the id of the message it reports, and it is
// what the mailbox knows the copy by, as every message umbra writes
// there: the Sieve duplicate rule over LMTP and the Maildir header
// search (mailbox.CheckHeaders) drop the copy a dumpster resubmit
// brings back (rt38 F1: a DSN written with no id was delivered twice).
// Between servers of the organisation it keeps every line (duplicate
// suppression at the next hop, the origin for signing).
func idOnlyAtFinalDelivery(m *queue.Message) bool { return m.From == "" }

// groupEndSeam, when set (tests only), runs after a group's delivery
// returned, before its results are kept: a test makes it panic there.
var groupEndSeam func(key string)

func (d *Deliverer) Deliver(ctx context.Context, m *queue.Message, body []byte, rcpts []int) []queue.Result {
	m = canonical(m)
	st := d.st.Load()
	// Relays send the id line and the stored body as parts (no copy per
	// attempt); only final delivery, which rewrites trace fields, gets
	// the message with the id line in one piece, made once.
	stored := body
	var once sync.Once
	withID := func() []byte {
		once.Do(func() {
			if idOnlyAtFinalDelivery(m) {
				body = orgid.Prepend(m.OrgID, stored)
				return
			}
			r := m.Carried()
			r.Repeat = false // a mark for the next hub of the organisation, not for a mailbox
			r.Grown = 0      // likewise: the next hub's size limits
			body = orgid.PrependRecord(r, stored)
		})
		return body
	}
	groups, order, results := st.group(ctx, m, rcpts, limitSize(st, m, body), false, d.hopDown)
	// mu guards results once a group runs on a goroutine of its own:
	// every append after that, a held group's too, is under it.
	var mu sync.Mutex
	var wg sync.WaitGroup
	groupsRun := false
	for _, k := range order {
		g := groups[k]
		if st.cfg.Suspended != nil && st.cfg.Suspended(g.queue) {
			mu.Lock()
			for _, i := range g.rcpts {
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Held, Queue: g.queue,
					Reply: queue.HeldReply(g.queue)})
			}
			mu.Unlock()
			continue
		}
		if res := d.orgLoop(st, m, stored, g); res != nil { // back to the server it came from: the topologies disagree
			mu.Lock()
			results = append(results, res...)
			mu.Unlock()
			continue
		}
		if res := d.hopLimit(st, m, stored, g); res != nil { // the id line is no Received field
			mu.Lock()
			results = append(results, res...)
			mu.Unlock()
			continue
		}
		kept := false // the group's results are among results (under mu)
		// ctx: the job's, or its strand's for a group of several.
		one := func(ctx context.Context) {
			deliver := func(g *group) (res []queue.Result) {
				// A panic here is umbra's defect: it ends this group's
				// attempt only, deferred (panics.go), never the daemon
				// (a group of several runs on a goroutine of its own,
				// outside the queue manager's recover).
				defer func() {
					if r := recover(); r != nil {
						d.recovered(PanicDelivery, r, "msg_id", m.ID.String(), "destination", g.key)
						res = panicResults(g.rcpts)
					}
				}()
				if g.key == "local" {
					return d.deliverLocal(ctx, st, m, withID(), g)
				} else if g.hops != nil {
					return d.deliverOrg(ctx, st, m, stored, g)
				}
				return d.deliverRemote(ctx, st, m, stored, g)
			}
			left := g.key != "local" && g.hops == nil && relayLeavesOrganisation(st, g)
			to := ""
			if g.key != "local" && g.hops == nil && !left {
				to = relayServer(st, g)
			}
			complete := func(res []queue.Result) {
				for k := range res {
					res[k].Queue = g.queue
					res[k].LeftOrg = left && res[k].Outcome == queue.RelayedOK
					if res[k].Outcome == queue.RelayedOK && to != "" {
						res[k].RelayedTo = to // else as the relay named it (org.go: a server relayed without a shadow session)
					}
					if res[k].Outcome == queue.DeliveredOK {
						res[k].Database = g.db
					}
				}
			}
			if g.key != "local" {
				// A round of "too many recipients" transactions that
				// ended is committed before the next begins
				// (reportRound: before the next transaction is tried on
				// the session, so also when it finds the session closed
				// and the rest go on a new one, below), completed as
				// below; a local group's LMTP turns report through
				// deliverLocal's.
				rctx := ctx
				ctx = withTurnReport(ctx, func(res []queue.Result) {
					res = slices.Clone(res)
					complete(res)
					queue.ReportGroup(rctx, res)
				})
			}
			res := deliver(g)
			// Recipients a next hop refused as too many at RCPT in a
			// transaction that delivered others, left over when it
			// closed the session after the data (transaction): they go
			// at once on a new session, not a retry step later. Each
			// round delivers one at least, or ends: bounded by the
			// recipients.
			for next := res; ctx.Err() == nil; {
				rest := batchedLeft(next)
				if len(rest) == 0 {
					break
				}
				again := *g
				again.rcpts = rest
				next = deliver(&again)
				res = settledBy(res, next)
			}
			complete(res)
			if groupEndSeam != nil {
				groupEndSeam(g.key)
			}
			mu.Lock()
			results = append(results, res...)
			kept = true
			mu.Unlock()
			if len(order) > 1 {
				// One of several groups of this job (the recipients
				// only the directory routes): committed as it ends,
				// not when the slowest group does (queue groupreport.go).
				queue.ReportGroup(ctx, res)
			}
		}
		if len(order) == 1 { // the scheduler's jobs: one destination each
			one(ctx)
			continue
		}
		// Each group of several on a strand of the job (queue.Strand):
		// its waits on its next hop and for its report's commit are its
		// own, not the job's — another group meanwhile runs umbra's code
		// on the message, and a crash then counts (rrdelivrt41).
		sctx, ended := queue.Strand(ctx)
		groupsRun = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ended()
			// A panic around the group's delivery (its results'
			// bookkeeping, its report) — deliver recovers its own — on
			// this goroutine of its own, outside the queue manager's
			// recover: counted and logged as a delivery's, the group's
			// recipients deferred with queue.PanicReply unless its
			// results were kept already, the other groups' standing.
			defer func() {
				if r := recover(); r != nil {
					d.recovered(PanicDelivery, r, "msg_id", m.ID.String(), "destination", g.key)
					mu.Lock()
					if !kept {
						results = append(results, panicResults(g.rcpts)...)
					}
					mu.Unlock()
				}
			}()
			one(sctx)
		}()
	}
	if groupsRun {
		// The job itself runs nothing while its groups do: it waits
		// for them, each marked as its strand runs or waits.
		waited := queue.AwaitingPeer(ctx)
		wg.Wait()
		waited()
	}
	return results
}

// Password reads the password of send connector i (the ith of the
// configuration's send_connectors) from its auth.password_file: the
// first line, without a byte-order mark or its line end (LF or CRLF:
// filelimit.Secret); "" without the setting. A file
// that cannot be read, or an empty password (found otherwise only at
// the next hop), is a config.FileError at the setting: config check,
// the start and a reload read the file here.
func Password(i int, sc config.SendConnector) (string, error) {
	file := sc.Auth.PasswordFile
	if file == "" {
		return "", nil
	}
	setting := []any{"send_connectors", i, "auth", "password_file"}
	b, err := config.ReadFileLimit(file, config.MaxPasswordFileSize, "a password file")
	if err != nil {
		return "", config.NewFileError(file, err, setting...)
	}
	line := filelimit.Secret(b)                                              // the first line, without a BOM or CR (one rule for every file umbra reads)
	if line == "" && strings.TrimSpace(string(filelimit.TrimBOM(b))) != "" { // something below a blank first line
		return "", &config.FileError{Setting: setting,
			Err: fmt.Errorf("send_connectors[%d].auth.password_file %s: its first line is empty (the password is the file's first line; send connector %s)", i, file, sc.Name)}
	}
	if line == "" {
		return "", &config.FileError{Setting: setting,
			Err: fmt.Errorf("send_connectors[%d].auth.password_file %s is empty (send connector %s)", i, file, sc.Name)}
	}
	return line, nil
}

// leavingConnector is the send connector mail to rcpt (of domain)
// leaves the organisation through, nil when none: with a topology the
// one its route names (as plan.go routes; topoConnector), whichever
// server is its source — never the one the configuration's address
// spaces alone would pick, which a topology does not route by; without
// one the routing table's.
func (st *state) leavingConnector(domain, rcpt string) *sendConnector {
	if tp := st.cfg.Topology; tp != nil {
		if r := tp.PlanRoute(st.cfg.LocalServer, rcpt, 0, st.cfg.Routing.Accepted(domain)); r.Connector != "" {
			return st.topoConnector(r.Connector)
		}
		return nil
	}
	if dec, err := st.cfg.Routing.Route(domain); err == nil {
		return st.conns[dec.Connector]
	}
	return nil
}

// ExplainConnector is the tls setting, port and mx_address_limit of the
// send connector mail to domain leaves through from this server
// (leavingConnector; "", port 25 and the default limit when none):
// route explain's connector setting, the port whose TLSA records apply
// and how many MX hosts an attempt looks up.
func (d *Deliverer) ExplainConnector(domain string) (tlsSetting string, port, mxAddressLimit int) {
	st := d.st.Load()
	domain = mailaddr.AddrKey(domain)
	if sc := st.leavingConnector(domain, "postmaster@"+domain); sc != nil {
		return sc.cfg.TLS, cmp.Or(sc.cfg.Port, config.DefaultSMTPPort), sc.cfg.MXAddressLimit
	}
	return "", config.DefaultSMTPPort, config.DefaultMXAddressLimit
}
