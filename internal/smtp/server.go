package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
)

// Queue is what a receive session needs of the queue: ids for trace
// headers, and a Submit that returns once the message is durable.
type Queue interface {
	NewID() queue.ID
	Submit(ctx context.Context, m *queue.Message, body []byte) error
	// WaitGone is closed once the message left the queue, confirmed by
	// its next hops (delayed acknowledgement, SR-9).
	WaitGone(id queue.ID) (<-chan struct{}, func())
}

// Observer is told about sessions and their outcome (metrics).
type Observer interface {
	Session(connector string)
	Rejected(connector, why string)
	Received(connector string, size int)
	Command(connector, command string, code int)
	DiscardsHanded(n int)
	DelayedAck(connector string, wait time.Duration, confirmed bool)
}

// PolicyObserver is told about AUTH failures by reason (bad_credentials,
// identity_mismatch, locked_out: a bounded set). An Observer that also
// implements it gets the calls.
type PolicyObserver interface {
	AuthFailure(connector, reason string)
}

// PressureObserver is told about each MAIL command back pressure
// refused (452 4.3.1): a refused command inside a session, not a refused
// connection (Observer.Rejected). An Observer that also implements it
// gets the calls.
type PressureObserver interface {
	BackPressureRefused(connector string)
}

// DiscardObserver is told of the shadow copies a discard notification
// the primary pushed (XDISCARD at its stop) discarded here, each once:
// counted as those its discard queries fetched are (shadow.Observer
// DiscardsReceived). An Observer that also implements it gets the calls.
type DiscardObserver interface {
	DiscardsReceived(n int)
}

type nopObserver struct{}

func (nopObserver) Session(string)                         {}
func (nopObserver) Rejected(string, string)                {}
func (nopObserver) Received(string, int)                   {}
func (nopObserver) Command(string, string, int)            {}
func (nopObserver) DiscardsHanded(int)                     {}
func (nopObserver) DelayedAck(string, time.Duration, bool) {}
func (nopObserver) Reply(string, string, int)              {}

// ServerConfig configures the receive side.
type ServerConfig struct {
	Hostname string
	// Connectors are the configuration's receive_connectors, in order:
	// a file one names that does not load is a config.FileError at its
	// setting (receive_connectors[i]…).
	Connectors []config.ReceiveConnector
	Routing    *routing.Table
	Queue      Queue
	Log        *slog.Logger
	Observer   Observer
	// Shadow answers the shadow verbs; nil or ShadowEnabled false (the
	// organisation-wide switch) means XSHADOW is never offered.
	Shadow        ShadowVerbs
	ShadowEnabled bool

	// Reload: the connectors are a reload's check of connectors that
	// will replace running ones (Server.Reload), where a credentials
	// file emptied is taken (the revocation of its last account: nobody
	// authenticates, logged at ERROR) instead of refused as at a start.
	Reload bool

	// AuthThrottle slows and locks out password guessing across
	// connections; its zero value turns it off.
	AuthThrottle config.AuthThrottle
	// Postmaster receives RCPT TO:<postmaster> (RFC 5321 §4.5.1); empty
	// refuses it as an address without a domain.
	Postmaster string
	// MaxHopCount bounds the Received: headers of an arriving message
	// (554 5.4.6 beyond); 0 means no bound.
	MaxHopCount int
	// Servers, when set (the organisation's topology), binds the server
	// id of a shadow session that no credential names to the addresses
	// the topology gives that server (SetServers replaces it on reload).
	Servers ServerDirectory
	// Clock times delayed acknowledgement, the AUTH throttle, the
	// refusal log's rate limit and the verb layer's error delay (tests
	// move it by hand); nil means the system clock.
	Clock clock.Clock
	// Recipients validates RCPT at accepted domains (SMTP-6); see
	// SetRecipients.
	Recipients *recipients.Validator
	// Accounts verifies AUTH on connectors with auth.ldap (accounts.go).
	Accounts AccountSource
	// Listen, when set, opens the bindings instead of net.Listen: the
	// in-process simulation's network (internal/sim).
	Listen func(network, addr string) (net.Listener, error)
	// Checks makes each receive connector's edge checks (filter.go);
	// nil: none.
	Checks CheckBuilder
	// AuthservIDs are the authserv-ids umbra writes in
	// Authentication-Results (every connector's message_authentication
	// and the ARC sealer's) and the organisation's: arriving ones
	// claiming them are removed (authres.go); SetAuthservIDs replaces
	// them on reload.
	AuthservIDs FrontDoorIDs
	// Spool, when set and the Queue is a BodyQueue, makes the spool
	// file a body past SpoolThreshold bytes goes to as it is read
	// (spoolbody.go; queue.Store.NewSpool); MaxHeaderSize bounds the
	// header section the session keeps in memory (552 5.3.4 beyond;
	// config.DefaultMaxHeaderSize when 0).
	Spool          func() (*queue.SpoolFile, error)
	SpoolThreshold int64
	MaxHeaderSize  int
	// BodyMemoryLimit caps the bytes of bodies every session holds in
	// memory together (bodymem.go); 0: no cap.
	BodyMemoryLimit int64
}

// BodyQueue is a Queue that stores a body that may be spooled
// (queue.Manager.SubmitBody): once it returns, the message, spool file
// included, is durable.
type BodyQueue interface {
	Queue
	SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error
}

// ServerDirectory knows the organisation's servers and where their
// connections come from (routing.Topology.ServerAt).
type ServerDirectory interface {
	ServerAt(name string, ip netip.Addr) (known, ok bool)
	// IsServerAddress: connections from ip may come from some server.
	IsServerAddress(ip netip.Addr) bool
	// Transport: name is a transport server (role hub or edge), the only
	// servers that may open shadow sessions.
	Transport(name string) bool
	// IsTransportAddress: connections from ip may come from some
	// transport server.
	IsTransportAddress(ip netip.Addr) bool
}

type serverDirectory struct{ d ServerDirectory }

// SetServers replaces the directory of the organisation's servers (a
// reloaded topology); nil removes it.
func (s *Server) SetServers(d ServerDirectory) {
	// The pacing of the WARNs kept by a server's name goes with the
	// server: a reload that removes it from the topology (or removes the
	// topology) drops its entries, which nothing would end otherwise
	// (front48 item 4). bindRefusals and topoRefusals are not among
	// them: they key names the topology does not know (by their source,
	// by the name stated), bounded on their own (maxLogKeys); dropping
	// their entries at every reload would WARN each such name again.
	for _, l := range []*anotherDBLog{s.anotherDBs, s.fromOthers, s.addrRefusals} {
		l.keepServers(d)
	}
	if d == nil {
		s.servers.Store(nil)
		return
	}
	s.servers.Store(&serverDirectory{d})
}

// Server is every receive connector of one umbra server. Reload swaps
// the connector set in place; sessions keep the connector they started
// with until they end.
type Server struct {
	// handedTold: the restored clients (server name, FROM= id and the
	// database the session presented) that heard every copy they handed
	// here and spoke again after it (shadowtakendone.go): not walked for
	// again while this process runs.
	handedTold sync.Map

	// anotherDBs paces the WARN of sessions refused for presenting
	// another server's database id (anotherdb.go).
	anotherDBs *anotherDBLog
	// fromOthers paces the WARN of XQUERYTAKENDONE FROM= naming another
	// server's database id (shadowtakendone.go), as anotherDBs paces
	// the refusals.
	fromOthers *anotherDBLog

	// addrRefusals paces the WARN of shadow sessions refused for coming
	// from an address that is not the stated server's (shadowaddr.go).
	addrRefusals *anotherDBLog

	// bindRefusals paces the WARN of shadow sessions refused for a server
	// id the topology does not bind to the connection (bindServerID).
	bindRefusals *anotherDBLog
	// topoRefusals paces the WARN of shadow sessions refused because the
	// server they state is not in the topology and nothing of it is held
	// here: once a minute per stated name (departed.go).
	topoRefusals *anotherDBLog

	hostname string
	queue    Queue
	shadow   ShadowVerbs // nil when shadow redundancy is off
	// digestOf is the database whose digest the EHLO advertises
	// (advertiseDigest): ServerConfig.Shadow whether or not the switch
	// is on — a primary with shadow redundancy off still shows the
	// holders of its earlier copies that it is alive with its database
	// (shadow31 S2). nil without one.
	digestOf   ShadowVerbs
	log        *slog.Logger
	obs        Observer
	routing    atomic.Pointer[routing.Table]
	servers    atomic.Pointer[serverDirectory]
	held       atomic.Pointer[heldServers]          // what is held of other servers (departed.go)
	receipt    atomic.Pointer[receiptHolder]        // shadow on receipt (receipt.go)
	peerHealth atomic.Pointer[peerHealthHolder]     // destination health of other servers (SetPeerHealth)
	ender      atomic.Pointer[refusalEnderHolder]   // the shadow view's refusals of servers' contacts (SetRefusalEnder)
	rcptv      atomic.Pointer[recipients.Validator] // RCPT validation (rcptcheck.go)
	authIDs    atomic.Pointer[FrontDoorIDs]         // umbra's and the organisation's authserv-ids (authres.go)
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	draining   chan struct{} // closed when Shutdown begins
	// shadowDone is closed when the drain's last step releases the
	// shadow sessions (CloseShadow); shadowOnce closes it once.
	shadowDone   chan struct{}
	shadowOnce   sync.Once
	clk          clock.Clock
	listen       func(network, addr string) (net.Listener, error)
	checkBuilder CheckBuilder

	guard      *authGuard  // AUTH throttle, shared by every connector
	refusals   *refusalLog // rate-limited refusal log lines
	panics     *panicLog   // recovered panics of sessions: counted, logged once a minute
	storage    *storageLog // full-disk refusals, once per episode
	postmaster string
	accounts   AccountSource // AUTH accounts of auth.ldap connectors
	standing   standingCache // the directory's verdicts on accounts that authenticated (accountstanding.go)
	maxHops    int
	pressure   atomic.Pointer[pressureGate] // back pressure (backpressure.go); nil: none
	// rights are the connectors now in force, replaced whole with them
	// (Reload): an open session takes its connector's permissions at each
	// MAIL, RCPT, EHLO and shadow verb — in full only when this
	// configuration would accept it on that connector as it stands
	// (session.refreshRights).
	rights atomic.Pointer[rightsSet]

	newSpool       func() (*queue.SpoolFile, error) // nil: bodies stay in memory
	spoolThreshold int64
	bodyMem        *memBudget // in-memory body bytes across sessions (bodymem.go); nil: no cap
	maxHeader      int

	mu       sync.Mutex // guards the fields below (Listen, Reload, Shutdown)
	bindings map[string]*binding
	conns    []*connector // the current set
	retired  []*connector // replaced by a reload, still serving sessions
	serving  bool
	closed   bool
}

// connector is one receive connector: its settings, its go-smtp server
// and its connection accounting.
type connector struct {
	cfg    config.ReceiveConnector
	ranges []netip.Prefix
	creds  *Credentials
	tls    *tls.Config
	limits *connLimits
	checks []Check // the edge checks (filter.go), in order
	vln    *chanListener
	gs     *gosmtp.Server
	clk    clock.Clock
	obs    Observer // the server's (cmdcount.go: replies before a session exists)
	log    *slog.Logger
	// shadowOff reports whether the connector offers the shadow verbs
	// to nobody (Server.offersShadow): they are then 502 in every state.
	shadowOff func() bool
	// inForce is the connector of this one's name in the configuration
	// in force (a reload's), nil when a reload removed or renamed it.
	inForce func() *connector
	panics  *panicLog // the server's (paniclog.go)
}

// connectorInForce is the connector of c's name in the configuration in
// force, nil when a reload removed or renamed it.
func (s *Server) connectorInForce(c *connector) *connector {
	set := s.rights.Load()
	if set == nil {
		return c
	}
	return set.byName[c.cfg.Name]
}

// NewServer prepares the connectors: it loads certificates and
// credentials, so a bad file fails the start, not the first session.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	s := &Server{hostname: strings.TrimSuffix(cfg.Hostname, "."), // a Domain in the greeting and the trace field: no final dot
		queue: cfg.Queue, log: cfg.Log, obs: cfg.Observer, bindings: map[string]*binding{},
		draining: make(chan struct{}), shadowDone: make(chan struct{}), clk: cfg.Clock}
	s.postmaster, s.maxHops = cfg.Postmaster, cfg.MaxHopCount
	s.accounts = cfg.Accounts
	s.listen = cfg.Listen
	s.checkBuilder = cfg.Checks
	s.maxHeader = cfg.MaxHeaderSize
	if s.maxHeader <= 0 {
		s.maxHeader = config.DefaultMaxHeaderSize
	}
	if _, ok := cfg.Queue.(BodyQueue); ok && cfg.Spool != nil {
		s.newSpool, s.spoolThreshold = cfg.Spool, max(cfg.SpoolThreshold, 0)
	}
	s.bodyMem = newMemBudget(cfg.BodyMemoryLimit)
	s.guard = newAuthGuard(s.clk, cfg.AuthThrottle)
	s.panics = newPanicLog(s.clk, s.obs)
	s.refusals = newRefusalLog(s.clk, s.log, config.DefaultRefusalLogBurst, config.DefaultRefusalLogInterval)
	s.storage = newStorageLog(s.clk, s.log)
	s.anotherDBs = newAnotherDBLog(s.clk)
	s.fromOthers = newAnotherDBLog(s.clk)
	s.addrRefusals = newAnotherDBLog(s.clk)
	s.bindRefusals = newAnotherDBLog(s.clk)
	s.topoRefusals = newAnotherDBLog(s.clk)
	s.topoRefusals.every = time.Minute
	if cfg.ShadowEnabled {
		s.shadow = cfg.Shadow
	}
	s.digestOf = cfg.Shadow
	s.routing.Store(cfg.Routing)
	s.SetServers(cfg.Servers)
	s.rcptv.Store(cfg.Recipients)
	s.SetAuthservIDs(cfg.AuthservIDs)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	conns, err := s.buildConnectors(cfg.Connectors, nil, cfg.Reload)
	if err != nil {
		return nil, err
	}
	s.conns = conns
	s.storeRights(conns)
	return s, nil
}

// buildConnectors makes connectors from configuration. A connector whose
// name exists in old keeps its connection accounting (with the new
// limits), so a reload neither forgets nor double-counts open sessions.
// reload says the connectors replace running ones (SIGHUP): an emptied
// credentials file is taken then, refused at a start.
func (s *Server) buildConnectors(cfgs []config.ReceiveConnector, old []*connector, reload bool) ([]*connector, error) {
	var out []*connector
	for i, rc := range cfgs { // i: the connector's index in receive_connectors, for a config.FileError
		if rc.TLS.Required {
			// tls.required wins over auth.allow_insecure (which the
			// configuration refuses beside it): no AUTH is offered or
			// taken before STARTTLS, and a login made in clear before a
			// reload required TLS is revoked as one the connector now
			// offers over TLS only (revokedInClear) — never a password
			// taken in clear where the operator required TLS.
			rc.Auth.AllowInsecure = false
		}
		c := &connector{cfg: rc, clk: s.clk, obs: s.obs, log: s.log, panics: s.panics}
		c.shadowOff = func() bool { return !s.offersShadow(c) }
		c.inForce = func() *connector { return s.connectorInForce(c) }
		for _, o := range old {
			if o.cfg.Name == rc.Name {
				c.limits = o.limits
			}
		}
		if c.limits == nil {
			c.limits = &connLimits{perSource: map[netip.Addr]int{}}
		}
		for _, r := range rc.RemoteRanges {
			p, err := config.ParseRange(r) // validated at load; unmapped as connections are
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", rc.Name, err)
			}
			c.ranges = append(c.ranges, p)
		}
		// Each file of the connector is loaded whether or not another
		// was refused, and every refusal is returned joined: config
		// check, serve and a reload name each bad file of a connector in
		// one run (rt34 F1).
		var bad []error
		if rc.TLS.CertFile != "" {
			at := []any{"receive_connectors", i, "tls"}
			cert, err := config.LoadKeyPair(rc.TLS.CertFile, rc.TLS.KeyFile, append(at[:3:3], "cert_file"), append(at[:3:3], "key_file"))
			if err != nil {
				bad = append(bad, err)
			} else {
				c.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
		}
		if rc.TLS.ClientCAFile != "" {
			pool := x509.NewCertPool()
			if err := config.AppendCAFile(pool, rc.TLS.ClientCAFile, "receive_connectors", i, "tls", "client_ca_file"); err != nil {
				bad = append(bad, err)
			} else if c.tls != nil {
				c.tls.ClientCAs, c.tls.ClientAuth = pool, tls.VerifyClientCertIfGiven
			}
		}
		if rc.Auth.CredentialsFile != "" {
			creds, err := LoadCredentials(rc.Auth.CredentialsFile)
			if err != nil {
				bad = append(bad, credentialsFileErrors(err, "receive_connectors", i, "auth", "credentials_file")...)
			} else if len(creds.users) == 0 && len(rc.Auth.Mechanisms) > 0 && !rc.Auth.LDAP {
				// An empty file (0 bytes, only comments) on a connector
				// that offers AUTH, with no directory to ask: every AUTH
				// would fail, as with no file at all (rt26c F1). At a
				// start (and config check) that is a mistake; at a
				// reload it is how the last account is revoked, as the
				// console takes it: taken, nobody authenticates, ERROR.
				words := fmt.Errorf("holds no account: every AUTH on connector %s would fail (add name:bcrypt-hash lines, or remove auth.mechanisms)", rc.Name)
				if !reload {
					bad = append(bad, config.NewFileError(rc.Auth.CredentialsFile, words, "receive_connectors", i, "auth", "credentials_file"))
				} else {
					s.log.Error("receive connector credentials file holds no account: no SMTP AUTH succeeds until accounts are added",
						"connector", rc.Name, "file", rc.Auth.CredentialsFile, "err", words)
				}
			}
			c.creds = creds
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("connector %s: %w", rc.Name, errors.Join(bad...))
		}
		if rc.Auth.LDAP {
			if s.accounts == nil {
				return nil, fmt.Errorf("connector %s: auth.ldap without an account directory", rc.Name)
			}
			c.creds = withAccounts(c.creds, s.accounts)
		}
		if s.checkBuilder != nil {
			checks, err := s.checkBuilder(rc)
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", rc.Name, err)
			}
			c.checks = checks
		}
		c.gs = s.newGoSMTP(c)
		out = append(out, c)
	}
	return out, nil
}

func (s *Server) newGoSMTP(c *connector) *gosmtp.Server {
	gs := gosmtp.NewServer(gosmtp.BackendFunc(func(conn *gosmtp.Conn) (gosmtp.Session, error) {
		ss := s.newSession(c, conn)
		if err := ss.checkGreeting(); err != nil {
			return nil, err
		}
		return ss, nil
	}))
	// The greeting is "220 <hostname> ESMTP Service Ready", or the
	// connector's banner verbatim (the verb layer writes it).
	gs.Domain = s.hostname
	gs.MaxMessageBytes = int64(c.cfg.Limits.MaxMessageSize)
	// max_recipients is the session's to hold (recipientLimit) and the
	// verb layer's to announce (ehloRcptMax): go-smtp's own bound would
	// refuse a shadow copy's recipients past it, which are its
	// primary's (rravail40).
	gs.MaxRecipients = 0
	// The verb layer frames every line go-smtp reads and holds each
	// to its limit (max_line_length; authLineMax for AUTH lines and
	// SASL responses): go-smtp's own bound only has to let those pass.
	gs.MaxLineLength = max(c.cfg.Limits.MaxLineLength, authLineMax) + 2
	gs.ReadTimeout = c.cfg.Limits.IdleTimeout.D()
	gs.WriteTimeout = c.cfg.Limits.IdleTimeout.D()
	// TLS is terminated by the verb layer below go-smtp, which also
	// refuses AUTH before it where the connector demands TLS.
	gs.TLSConfig = nil
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = true
	gs.EnableDSN = true
	// REQUIRETLS (RFC 8689) is advertised by the verb layer once TLS is
	// on (go-smtp cannot see the layer's TLS); MAIL refuses it without.
	gs.EnableREQUIRETLS = true
	gs.ErrorLog = slogPrinter{l: s.log.With("connector", c.cfg.Name), connector: c.cfg.Name, panics: s.panics} // paniclog.go
	return gs
}

// Listen opens every binding. Call Serve afterwards.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	opened, err := s.assign(s.conns)
	if err != nil {
		for _, b := range opened {
			b.ln.Close()
			delete(s.bindings, b.addr)
		}
	}
	return err
}

// assign points the bindings at conns: existing bindings switch
// atomically, new addresses are opened (and returned), and bindings no
// connector names any more are closed. On error nothing changed except
// the returned, newly opened bindings, which the caller closes.
func (s *Server) assign(conns []*connector) (opened []*binding, err error) {
	want := map[string][]*connector{}
	var order []string
	for _, c := range conns {
		for _, addr := range c.cfg.Bindings {
			if _, ok := want[addr]; !ok {
				order = append(order, addr)
			}
			want[addr] = append(want[addr], c)
		}
	}
	for _, addr := range order {
		if s.bindings[addr] != nil {
			continue
		}
		listen := listenTCP
		if s.listen != nil {
			listen = s.listen
		}
		ln, err := listen("tcp", addr)
		if err != nil {
			return opened, fmt.Errorf("binding %s: %w", addr, err)
		}
		b := &binding{addr: addr, ln: ln}
		opened = append(opened, b)
		s.bindings[addr] = b
	}
	for _, c := range conns {
		c.limits.setMax(c.cfg.Limits.MaxConnections, c.cfg.Limits.MaxConnectionsPerSource)
		var addr net.Addr
		if len(c.cfg.Bindings) > 0 {
			addr = s.bindings[c.cfg.Bindings[0]].ln.Addr()
		}
		c.vln = newChanListener(addr)
	}
	for addr, b := range s.bindings {
		if cs, ok := want[addr]; ok {
			b.conns.Store(&cs)
		} else {
			b.ln.Close()
			delete(s.bindings, addr)
		}
	}
	return opened, nil
}

// Addrs returns the bound addresses (useful with port 0 in tests).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, c := range s.conns {
		for _, a := range c.cfg.Bindings {
			if b := s.bindings[a]; b != nil {
				out = append(out, b.ln.Addr())
			}
		}
	}
	return out
}

// Serve accepts connections until Shutdown.
func (s *Server) Serve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serving = true
	for _, c := range s.conns {
		s.serveConnector(c)
	}
	for _, b := range s.bindings {
		s.serveBinding(b)
	}
}

func (s *Server) serveConnector(c *connector) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := c.gs.Serve(c.vln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("connector stopped", "connector", c.cfg.Name, "err", err)
		}
	}()
}

func (s *Server) serveBinding(b *binding) {
	if b.serving {
		return
	}
	b.serving = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		b.serve(func(c *connector, ip netip.Addr, why, reply string) {
			name := ""
			if c != nil {
				name = c.cfg.Name
			}
			s.obs.Rejected(name, why)
			s.refusals.log(s.log.With("client_ip", ip.String()), "connection refused", why, fixedReply(reply), ip, "connector", name)
		})
	}()
}

// rightsSet is what refreshRights reads of the connectors in force:
// each one's permissions with its ranges, bindings and requirements,
// so that a session's rights are never widened by a configuration that
// would not accept it (rr27 F1).
type rightsSet struct {
	conns  []*connector // in configuration order, as the bindings pick
	byName map[string]*connector
}

// storeRights publishes conns, the connectors now in force, for the
// sessions' refreshRights.
func (s *Server) storeRights(conns []*connector) {
	set := &rightsSet{conns: conns, byName: make(map[string]*connector, len(conns))}
	for _, c := range conns {
		set.byName[c.cfg.Name] = c
	}
	s.rights.Store(set)
}

// picks reports whether a new connection from ip on binding would be
// given c (pick).
func (r *rightsSet) picks(c *connector, binding string, ip netip.Addr) bool {
	if binding == "" {
		for _, p := range c.ranges {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	return r.pick(binding, ip) == c
}

// pick is the connector a new connection from ip on binding would be
// given (binding.pick's rule: the longest remote range containing ip
// among the binding's connectors, the first in order on a tie), nil
// when none takes it (the connection is refused). A session that came
// by no binding ("") has no connector picked for it: nil.
func (r *rightsSet) pick(binding string, ip netip.Addr) *connector {
	if binding == "" {
		return nil
	}
	var best *connector
	bestBits := -1
	for _, o := range r.conns {
		if !slices.Contains(o.cfg.Bindings, binding) {
			continue
		}
		for _, p := range o.ranges {
			if p.Contains(ip) && p.Bits() > bestBits {
				best, bestBits = o, p.Bits()
			}
		}
	}
	return best
}

// Reload replaces the connectors (certificates and credentials are read
// again) and the routing table. New connections get the new connectors;
// sessions in progress finish on the connector they started with, but
// take its new permissions at their next MAIL (storeRights,
// session.refreshRights: a relay right taken away ends with the
// transaction in progress) — a right the new permissions add only when
// the new configuration would accept the session on that connector as
// it stands (its address, binding, TLS, AUTH), and never a right the
// connector in force for its address would not give a new connection
// (its connector removed, renamed or its ranges narrowed away from the
// address: rt31b F1, R1). Their AUTH, the account
// they authenticated as, their shadow session and the requirements of
// TLS and AUTH are judged by the new set from then on (authreload.go).
// If any
// part fails (a bad certificate, a binding that cannot be opened), the
// old set stays in force and the error is returned.
func (s *Server) Reload(conns []config.ReceiveConnector, table *routing.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is shut down")
	}
	next, err := s.buildConnectors(conns, s.conns, true)
	if err != nil {
		return err
	}
	prev := s.conns
	opened, err := s.assign(next)
	if err != nil {
		for _, b := range opened {
			b.ln.Close()
			delete(s.bindings, b.addr)
		}
		return err
	}
	s.conns = next
	s.storeRights(next)
	s.routing.Store(table)
	if s.serving {
		for _, c := range next {
			s.serveConnector(c)
		}
		for _, b := range s.bindings {
			s.serveBinding(b)
		}
	}
	// The replaced connectors take no new connections; their go-smtp
	// servers keep running the sessions they have.
	for _, c := range prev {
		c.vln.Close()
	}
	s.retired = append(s.retired, prev...)
	s.log.Info("receive connectors reloaded", "connectors", len(next), "bindings", len(s.bindings))
	return nil
}

// Shutdown drains: it stops accepting, closes sessions as soon as they are
// outside a mail transaction (with 421), lets transactions in progress
// finish until ctx ends, then closes whatever is left. A session cut off
// mid-DATA never got its 250, so its client still owns the message. It
// is Drain then CloseShadow.
func (s *Server) Shutdown(ctx context.Context) {
	s.Drain(ctx)
	s.CloseShadow(ctx)
}

// Drain is the first step of Shutdown: no new connection, sessions
// closed once outside a mail transaction, transactions cut when ctx
// ends — except the shadow sessions of other transport servers between
// commands (a watch session's long poll), which stay open until
// CloseShadow, so that the discards of the deliveries that finish
// during the drain reach their shadow servers as they commit (rt27 F3).
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		close(s.draining) // senders waiting for confirmation get their 250 now
	}
	s.closed = true
	for _, b := range s.bindings {
		b.ln.Close()
	}
	all := append(append([]*connector(nil), s.conns...), s.retired...)
	s.mu.Unlock()
	for _, c := range all {
		if c.vln != nil {
			c.vln.Close()
		}
	}
	s.closeSessions(ctx, all, true)
	// The work the sessions started ends with the server's context, as
	// before the drain kept the shadow sessions: a delivery dispatched
	// at receipt runs in it (its stop is the deliveries' bounded one).
	// The shadow sessions left need none of it to answer XQUERYDISCARD.
	s.cancel()
}

// CloseShadow is the last step of Shutdown, after the deliveries stopped:
// the shadow sessions' long polls are answered now, with the discards
// the drain prepared, and every session is closed once its reply is
// written (until ctx ends, then at once).
func (s *Server) CloseShadow(ctx context.Context) {
	s.mu.Lock()
	all := append(append([]*connector(nil), s.conns...), s.retired...)
	s.mu.Unlock()
	s.shadowOnce.Do(func() { close(s.shadowDone) })
	s.closeSessions(ctx, all, false)
	for _, c := range all {
		c.gs.Close()
	}
	s.cancel()
	s.wg.Wait()
	s.refusals.flush()
	s.storage.flush()
}

// closeSessions closes the sessions of all as closeIdle does, every 50 ms
// until none is left open, and forces them when ctx ends.
func (s *Server) closeSessions(ctx context.Context, all []*connector, keepShadow bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		open := 0
		for _, c := range all {
			open += c.limits.closeIdle(false, keepShadow)
		}
		if open == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, c := range all {
				c.limits.closeIdle(true, keepShadow)
			}
			return
		case <-tick.C:
		}
	}
}

// PeerHealth is the record of servers that did not answer
// (queue.Health): a shadow session another transport server completes
// here — its heartbeat's or watch session's XQUERYDISCARD, its
// XQUERYHELD — shows it up, and clears its marks (its name and its
// topology address), as a session this server opens to it would (rt23
// NEW-3: a peer back for minutes stayed listed unresponsive while
// nothing was sent to it).
type PeerHealth interface {
	Responsive(keys ...string)
}

// PeerRefusalHealth is a PeerHealth that also marks a server: a peer
// whose shadow session this server refuses here — it presents a
// transport database id kept here as another server's — is marked at
// once under RefusedPeerKeyPrefix+name (queue destinations:
// server:refused:NAME; delivery tries its other servers first), as a
// relay that meets this server's refusal marks it (delivery
// openShadow).
type PeerRefusalHealth interface {
	Unresponsive(since time.Time, why string, keys ...string)
}

var _ PeerRefusalHealth = (*queue.Health)(nil)

// RefusedPeerKeyPrefix starts the health key of a transport server
// whose contacts this server refuses, or that refuses this server's
// database as another's (delivery.RefusedKeyPrefix is this one).
const RefusedPeerKeyPrefix = "refused:"

type peerHealthHolder struct{ h PeerHealth }

// SetPeerHealth sets the record that shadow sessions of other servers
// clear (nil: none).
func (s *Server) SetPeerHealth(h PeerHealth) {
	if h == nil {
		s.peerHealth.Store(nil)
		return
	}
	s.peerHealth.Store(&peerHealthHolder{h})
}

// RefusalEnder is the shadow view's record of the servers whose
// contacts this server refuses for presenting another server's
// transport database id (shadow.Recorder.SessionAcceptedHere): a
// session of such a server let in here presenting an id of its own ends
// that refusal, as it clears the server's destination mark
// (anotherDatabaseAccepted) — one event, one answer to "refused" in
// queue destinations and shadow list (rt28e F3).
type RefusalEnder interface {
	SessionAcceptedHere(server, dbID string)
}

type refusalEnderHolder struct{ e RefusalEnder }

// SetRefusalEnder sets the record a session let in presenting its own
// database id ends the refusals of (nil: none).
func (s *Server) SetRefusalEnder(e RefusalEnder) {
	if e == nil {
		s.ender.Store(nil)
		return
	}
	s.ender.Store(&refusalEnderHolder{e})
}

// ShadowAnswerer is ShadowVerbs that is told when a peer completed a
// query here (queue.Manager.ShadowAnswered): a heartbeat this server
// began to that peer before, and that fails, takes none of its copies
// over — the peer is alive.
type ShadowAnswerer interface {
	ShadowAnswered(serverID string)
}

var _ ShadowAnswerer = (*queue.Manager)(nil)

// peerAnswered clears the marks of the session's shadow server: it just
// completed a query here.
func (s *session) peerAnswered() {
	if a, ok := s.srv.shadow.(ShadowAnswerer); ok && s.shadowServer != "" {
		a.ShadowAnswered(s.shadowServer)
	}
	if h := s.srv.receipt.Load(); h != nil && s.shadowServer != "" {
		if n, ok := h.r.(SessionAskedNoter); ok {
			n.ShadowSessionAsked(s.shadowServer)
		}
	}
	ph := s.srv.peerHealth.Load()
	if ph == nil || s.shadowServer == "" {
		return
	}
	keys := []string{s.shadowServer}
	if addr := s.primaryAddr(s.shadowServer); addr != "" {
		keys = append(keys, addr)
	}
	ph.h.Responsive(keys...)
}
