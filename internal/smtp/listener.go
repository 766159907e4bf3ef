package smtp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// binding is one listening address shared by the connectors bound to it.
// A connection goes to the connector whose remote ranges contain the
// client most specifically; connection limits are enforced here, before
// go-smtp sees the connection.
type binding struct {
	addr    string
	ln      net.Listener
	conns   atomic.Pointer[[]*connector] // swapped whole by Reload
	serving bool                         // guarded by Server.mu
	// trace, in tests, gives each connection's verb layer a recorder.
	trace func() func(kind byte, b []byte)
}

func (b *binding) serve(onReject func(c *connector, ip netip.Addr, why, reply string)) {
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: back off instead of spinning.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ip := remoteIP(nc)
		c := b.pick(ip)
		if c == nil {
			const reply = "554 5.7.1 This server does not accept connections from your address"
			refuse(nc, reply)
			onReject(nil, ip, RejectNoConnector, reply)
			continue
		}
		if why := c.limits.acquire(ip); why != "" {
			const reply = "421 4.3.2 Too many connections, try again later"
			refuse(nc, reply)
			onReject(c, ip, why, reply)
			continue
		}
		tc := &trackedConn{Conn: nc, c: c, binding: b.addr}
		tc.stats.connect(c, c.log.With("connector", c.cfg.Name, "client_ip", ip.String()), c.clk, nc)
		tc.release = func() { c.limits.release(ip) }
		tc.untrack = func() { c.limits.untrack(tc) }
		// Build the connection whole before Shutdown can see it.
		vc := newVerbConn(tc, c.tls, &c.cfg, c.clk)
		vc.noShadow = c.shadowOff
		vc.inForce = c.inForce
		vc.command = func(cmd string, code int) { c.obs.Command(c.cfg.Name, cmd, code) }
		if b.trace != nil {
			vc.trace = b.trace()
		}
		c.limits.track(tc)
		if !c.vln.push(vc) {
			go tc.Close() // shutting down; its close lingers apart from this loop
		}
	}
}

// pick returns the connector with the longest remote range containing ip.
func (b *binding) pick(ip netip.Addr) *connector {
	var best *connector
	bestBits := -1
	cs := b.conns.Load()
	if cs == nil {
		return nil
	}
	for _, c := range *cs {
		for _, p := range c.ranges {
			if p.Contains(ip) && p.Bits() > bestBits {
				best, bestBits = c, p.Bits()
			}
		}
	}
	return best
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// refuse answers a connection refused at once and closes it. Its close
// lingers (linger) apart from the accept loop, so that a client that
// talked first gets the reply too; past maxRefusing lingering at once
// (a flood over the connection limits) a refusal closes at once.
func refuse(c net.Conn, reply string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(reply + "\r\n"))
	select {
	case refusing <- struct{}{}:
		go func() {
			linger(c)
			<-refusing
		}()
	default:
		c.Close()
	}
}

const maxRefusing = 64

var refusing = make(chan struct{}, maxRefusing)

// connLimits counts a connector's connections, in all and per source IP.
type connLimits struct {
	mu        sync.Mutex
	max, per  int
	total     int
	perSource map[netip.Addr]int
	live      map[*trackedConn]struct{}
}

func (l *connLimits) setMax(max, perSource int) {
	l.mu.Lock()
	l.max, l.per = max, perSource
	l.mu.Unlock()
}

func (l *connLimits) track(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live == nil {
		l.live = map[*trackedConn]struct{}{}
	}
	l.live[tc] = struct{}{}
}

// closeIdle closes every connection that is not inside a mail transaction
// (all of them when force is set), telling the client why. It returns how
// many connections remain open.
//
// keepShadow (the drain's first step, Drain) keeps the shadow sessions
// of other transport servers open — their watch sessions' long polls
// are how the discards of the deliveries finished during the drain
// reach them — and does not count them; a shadow session inside a mail
// transaction is counted and cut like any at force. Without it (the last
// step, CloseShadow) a session inside XQUERYDISCARD is counted too, so
// that its reply is written before the session is closed.
func (l *connLimits) closeIdle(force, keepShadow bool) int {
	l.mu.Lock()
	var victims, claimed []*trackedConn
	n := 0
	for tc := range l.live {
		s := tc.sess.Load()
		switch {
		case tc.ending.Load():
			n++ // closing already (its linger)
			continue
		case s == nil:
		case s.busy.Load() && !force:
			n++
			continue
		case keepShadow && s.stats.shadow.Load() && !s.busy.Load():
			continue
		case !keepShadow && s.querying.Load() && !force:
			n++
			continue
		}
		if !tc.claimLast(lastByDrain) {
			// The session's own goroutine gives its last reply (a
			// MAIL refused for the drain): it ends by itself — at
			// force within the bound the drain's own 421 has, then
			// cut (a client that reads nothing holds that write
			// until the idle timeout; rr rrmix39).
			n++
			if force {
				claimed = append(claimed, tc)
			}
			continue
		}
		victims = append(victims, tc)
	}
	l.mu.Unlock()
	// Each closes in parallel: a close lingers (linger) until its client
	// has read the 421.
	var wg sync.WaitGroup
	for _, tc := range victims {
		wg.Go(func() {
			held := true
			if s := tc.sess.Load(); s != nil {
				held = s.holdCommits(drainCommitWait)
			}
			tc.SetWriteDeadline(time.Now().Add(time.Second))
			if !held {
				// A commit still under way may land: no 421, which
				// would say its data was not kept. The client, with
				// no reply to its data, takes it as possibly kept (a
				// primary's copy: unconfirmed, its discard owed).
				tc.ending.Store(true)
				drainEnded(tc, "")
			} else if tc.vc != nil {
				if r := "421 4.3.2 Service shutting down, try again later"; tc.vc.sayLast(r) == nil {
					tc.vc.observeReply(noCommand, 421) // between commands (cmdcount.go)
					drainEnded(tc, r)
				}
			}
			tc.Close()
		})
	}
	for _, tc := range claimed {
		wg.Go(func() {
			// Its 421 and its line are the session's: not written
			// here; its write bounded as the drain's is, then closed.
			end := time.Now().Add(time.Second)
			tc.SetWriteDeadline(end)
			for time.Now().Before(end) && !tc.ending.Load() {
				time.Sleep(5 * time.Millisecond)
			}
			if !tc.ending.Load() { // ended by itself: closing (its linger)
				tc.Close()
			}
		})
	}
	wg.Wait()
	return n
}

func (l *connLimits) acquire(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return RejectMaxConnections
	}
	if l.per > 0 && l.perSource[ip] >= l.per {
		return RejectMaxPerSource
	}
	l.total++
	l.perSource[ip]++
	return ""
}

// release frees a connection's slot (its share of max_connections and
// max_connections_per_source): when its session ends, before it lingers.
func (l *connLimits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perSource[ip]--; l.perSource[ip] <= 0 {
		delete(l.perSource, ip)
	}
}

// untrack forgets a connection once it is closed (after its linger):
// until then a drain counts it as closing (closeIdle).
func (l *connLimits) untrack(tc *trackedConn) {
	l.mu.Lock()
	delete(l.live, tc)
	l.mu.Unlock()
}

// Who claimed a session's last reply (trackedConn.lastReply).
const (
	lastBySession int32 = 1 + iota
	lastByDrain
)

// claimLast claims the session's last reply for by; false: the other
// claimed it first.
func (t *trackedConn) claimLast(by int32) bool {
	return t.lastReply.CompareAndSwap(0, by) || t.lastReply.Load() == by
}

// trackedConn releases its connector's connection slot once, on Close.
type trackedConn struct {
	net.Conn
	once    sync.Once
	release func()
	untrack func()
	sess    atomic.Pointer[session] // the session on it, once EHLO made one
	c       *connector
	binding string    // the binding it came in on, as configured (refreshRights)
	stats   connStats // its connect and disconnect lines (connlog.go)

	// hangUp makes the next write (the reply that ends the session) the
	// last: go-smtp has no way for a session to close its connection.
	hangUp atomic.Bool
	vc     *verbConn // the verb layer above it (writes through TLS)

	// lastReply is who gives the session its last reply when the drain
	// ends it (0 until one claims it: claimLast): the drain's look at
	// the session (closeIdle) or the session's own MAIL refused for the
	// drain — one of them, so that the client gets one 421 and the log
	// one "session ended" line.
	lastReply atomic.Int32

	// ending: the server is closing the connection. Nothing more is
	// written, and what the client still sends is read and dropped
	// (linger), never handed to the session.
	ending   atomic.Bool
	closing  sync.Once
	closeErr error

	// writeStuck: a write timed out — the client does not read its
	// replies. Every later write fails at once (a reply after a part of
	// one would be garbage, and each would wait its timeout again) and
	// every later read fails with errRepliesNotRead, so the session ends
	// there (readError: reason "write timeout") instead of reading on
	// and taking messages whose replies nobody gets.
	writeStuck atomic.Bool
}

// errRepliesNotRead is what a read gets once a reply's write timed out.
var errRepliesNotRead = errors.New("the client does not read its replies: a write timed out")

// endSession frees the connection's slot (its share of max_connections
// and max_connections_per_source): the session is over, whatever its
// last reply's write and its close still wait for. Close frees it too.
func (t *trackedConn) endSession() {
	if t.release != nil {
		t.once.Do(t.release)
	}
}

func (t *trackedConn) Read(b []byte) (int, error) {
	if t.ending.Load() {
		return 0, io.EOF
	}
	if t.writeStuck.Load() {
		return 0, errRepliesNotRead
	}
	n, err := t.Conn.Read(b)
	if t.ending.Load() {
		return 0, io.EOF // read while the connection closes: dropped
	}
	return n, err
}

// SetReadDeadline and SetDeadline do nothing once the connection is
// ending: its read deadline is then the linger's (linger), which a
// session still reading must not move.
func (t *trackedConn) SetReadDeadline(d time.Time) error {
	if t.ending.Load() {
		return nil
	}
	return t.Conn.SetReadDeadline(d)
}

func (t *trackedConn) SetDeadline(d time.Time) error {
	if t.ending.Load() {
		return nil
	}
	return t.Conn.SetDeadline(d)
}

func (t *trackedConn) Write(b []byte) (int, error) {
	if t.ending.Load() {
		return 0, net.ErrClosed
	}
	if t.writeStuck.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	last := t.hangUp.Load()
	if last {
		t.endSession() // the reply ends the session: its slot is free before the write waits
	}
	n, err := t.Conn.Write(b)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.writeStuck.Store(true)
	}
	if last {
		t.Close()
	}
	return n, err
}

// Close releases the connector's slot at once — the session is over;
// a client that keeps sending cannot hold the slot for the linger — and
// then ends the connection after its last reply (closeLingering); a
// later Close waits for the first.
func (t *trackedConn) Close() error {
	t.closing.Do(func() {
		t.ending.Store(true)
		t.endSession()
		t.stats.disconnect() // the session is over: before the linger
		t.closeErr = closeLingering(t.Conn)
		if t.untrack != nil {
			t.untrack()
		}
	})
	return t.closeErr
}

// closeLingering closes a session's connection with linger, at most
// maxLingering of them at once (their slots are free, so lingering has
// its own bound); past it (a flood of clients that keep sending after
// their session ended) a connection closes at once, as a refusal past
// maxRefusing does.
func closeLingering(c net.Conn) error {
	select {
	case lingering <- struct{}{}:
		defer func() { <-lingering }()
		return linger(c)
	default:
		return c.Close()
	}
}

const maxLingering = 256

var lingering = make(chan struct{}, maxLingering)

// How a closing connection lingers: it reads and drops what the client
// still sends until the client ends its side, at most lingerBytes, at
// most lingerTime in all and lingerIdle without a byte.
const (
	lingerTime  = 2 * time.Second
	lingerIdle  = 500 * time.Millisecond
	lingerBytes = 1 << 20
)

// linger closes c so that the replies written before reach the client.
// A close with input still unread (a pipelining client's commands past
// the one that ended the session) makes the kernel send a reset in
// place of the end of the stream, and the client's stack may throw away
// the replies it has not read yet, the 421 that says why among them:
// the client could not tell a refusal from a crash. So the write side is
// closed first (the replies, then the end of the stream), and what the
// client still sends is read and dropped until it closes its side (a
// client that read the 421 does at once), within the bounds above.
//
// The bound does not rest on the read deadline alone: the session's
// goroutine may still be inside a read of the same connection (a drain
// closes a session silent in its body) and set its own deadline after
// this one — a body's idle_timeout — so that a client that never spoke
// again held the close, and the drain, for as long (rt16c F1). The
// session can set no deadline once the connection is ending
// (trackedConn), and a timer ends the connection at lingerTime whatever
// a read waits for.
func linger(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return c.Close() // not TCP, or already broken: nothing to wait for
	}
	end := time.Now().Add(lingerTime)
	cut := time.AfterFunc(lingerTime, func() { c.Close() })
	defer cut.Stop()
	buf := make([]byte, 4096)
	for n := 0; n < lingerBytes; {
		dl := time.Now().Add(lingerIdle)
		if dl.After(end) {
			dl = end
		}
		c.SetReadDeadline(dl)
		k, err := c.Read(buf)
		if err != nil {
			break
		}
		n += k
	}
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil // closed here or by the timer: the same end
}

// chanListener is the net.Listener a connector's go-smtp server serves:
// it yields the connections its binding routed to the connector.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
