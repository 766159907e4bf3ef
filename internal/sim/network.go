package sim

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Network is an in-memory TCP network between named hosts (IP
// addresses). Every blocking operation waits on a channel or a timer, so
// inside a synctest bubble time advances only when every goroutine waits
// (a real socket would not be "durably blocked").
//
// Faults: a host that is down refuses connections and loses every open
// connection; a partitioned pair of hosts black-holes its traffic (dials
// hang until their timeout; data written on an open connection is held
// and arrives when the partition heals, as TCP retransmission would
// deliver it); every connection has its own one-way latency, so messages
// on different connections overtake each other; a host can refuse a
// share of new connections.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*listener // "ip:port"
	down      map[string]bool      // ip
	cut       map[[2]string]bool   // sorted ip pair
	refuse    map[string]int       // ip → refuse the next n dials to it
	conns     map[*conn]struct{}
	latency   func() time.Duration
	healed    chan struct{} // closed and replaced when a partition heals
	Dials     int
	pairDials map[[2]string]int // from, to ip
	portSeq   int
}

// NewNetwork returns an empty network; latency gives each new
// connection's one-way delay.
func NewNetwork(latency func() time.Duration) *Network {
	return &Network{listeners: map[string]*listener{}, down: map[string]bool{}, cut: map[[2]string]bool{},
		refuse: map[string]int{}, pairDials: map[[2]string]int{}, conns: map[*conn]struct{}{}, latency: latency, healed: make(chan struct{})}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// SetDown takes a host off the network (true: its connections break,
// dials to it are refused) or back on.
func (n *Network) SetDown(ip string, down bool) {
	n.mu.Lock()
	n.down[ip] = down
	var kill []*conn
	if down {
		for c := range n.conns {
			if c.local.IP.String() == ip || c.remote.IP.String() == ip {
				kill = append(kill, c)
			}
		}
	}
	n.mu.Unlock()
	for _, c := range kill {
		c.breakBoth()
	}
}

// Partition cuts (or heals) the link between two hosts.
func (n *Network) Partition(a, b string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cut {
		n.cut[pair(a, b)] = true
		return
	}
	delete(n.cut, pair(a, b))
	close(n.healed)
	n.healed = make(chan struct{})
}

// Refuse makes the next k dials to ip fail with "connection refused".
func (n *Network) Refuse(ip string, k int) {
	n.mu.Lock()
	n.refuse[ip] += k
	n.mu.Unlock()
}

func (n *Network) isCut(a, b string) (bool, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[pair(a, b)], n.healed
}

// Listen opens a listener on addr ("ip:port").
func (n *Network) Listen(network, addr string) (net.Listener, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners[addr] != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: ta, Err: syscall.EADDRINUSE}
	}
	l := &listener{n: n, addr: ta, key: addr, q: make(chan *conn, 64), done: make(chan struct{})}
	n.listeners[addr] = l
	return l, nil
}

// Dialer returns the dial function of host ip.
func (n *Network) Dialer(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return n.Dial(ctx, ip, addr) }
}

// Dial connects from host ip to addr.
func (n *Network) Dial(ctx context.Context, from, addr string) (net.Conn, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	to := ta.IP.String()
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: ta, Err: syscall.ECONNREFUSED}
	for {
		cut, healed := n.isCut(from, to)
		if !cut {
			break
		}
		select { // SYNs lost: wait for the heal or the dialer's timeout
		case <-healed:
		case <-ctx.Done():
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: ta, Err: ctx.Err()}
		}
	}
	n.mu.Lock()
	n.Dials++
	n.pairDials[[2]string{from, to}]++
	l := n.listeners[addr]
	if n.down[from] || n.down[to] || l == nil {
		n.mu.Unlock()
		return nil, refused
	}
	if n.refuse[to] > 0 {
		n.refuse[to]--
		n.mu.Unlock()
		return nil, refused
	}
	lat := n.latency()
	n.portSeq++
	local := &net.TCPAddr{IP: net.ParseIP(from), Port: 40000 + n.portSeq%20000}
	a, b := newConnPair(n, local, ta, lat)
	n.conns[a], n.conns[b] = struct{}{}, struct{}{}
	n.mu.Unlock()
	select {
	case l.q <- b:
		return a, nil
	case <-l.done:
		a.breakBoth()
		return nil, refused
	case <-ctx.Done():
		a.breakBoth()
		return nil, ctx.Err()
	}
}

func (n *Network) forget(c *conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

type listener struct {
	n    *Network
	addr *net.TCPAddr
	key  string
	q    chan *conn
	done chan struct{}
	once sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.q:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.n.mu.Lock()
		if l.n.listeners[l.key] == l {
			delete(l.n.listeners, l.key)
		}
		l.n.mu.Unlock()
		for { // connections not yet accepted are reset
			select {
			case c := <-l.q:
				c.breakBoth()
			default:
				return
			}
		}
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

// pipe is one direction of a connection: chunks in order, each readable
// from its arrival time.
type pipe struct {
	mu     sync.Mutex
	chunks []chunk
	closed bool          // writer closed (EOF after the data) or reset
	reset  bool          // connection broken: reads fail at once
	notify chan struct{} // closed and replaced on every change
}

type chunk struct {
	b  []byte
	at time.Time
}

func newPipe() *pipe { return &pipe{notify: make(chan struct{})} }

func (p *pipe) changed() {
	close(p.notify)
	p.notify = make(chan struct{})
}

type conn struct {
	n             *Network
	local, remote *net.TCPAddr
	in, out       *pipe
	peer          *conn
	latency       time.Duration

	dmu       sync.Mutex
	rdl, wdl  time.Time
	dlChanged chan struct{}
	closeOnce sync.Once
}

func newConnPair(n *Network, local, remote *net.TCPAddr, lat time.Duration) (*conn, *conn) {
	ab, ba := newPipe(), newPipe()
	a := &conn{n: n, local: local, remote: remote, in: ba, out: ab, latency: lat, dlChanged: make(chan struct{})}
	b := &conn{n: n, local: remote, remote: local, in: ab, out: ba, latency: lat, dlChanged: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

var errTimeout = os.ErrDeadlineExceeded

func (c *conn) Read(b []byte) (int, error) {
	for {
		c.in.mu.Lock()
		if c.in.reset {
			c.in.mu.Unlock()
			return 0, syscall.ECONNRESET
		}
		var wait time.Duration
		if len(c.in.chunks) > 0 {
			ch := &c.in.chunks[0]
			now := time.Now()
			cut, _ := c.n.isCut(c.local.IP.String(), c.remote.IP.String())
			if !ch.at.After(now) && !cut {
				k := copy(b, ch.b)
				ch.b = ch.b[k:]
				if len(ch.b) == 0 {
					c.in.chunks = c.in.chunks[1:]
				}
				c.in.mu.Unlock()
				return k, nil
			}
			if !cut {
				wait = ch.at.Sub(now)
			}
		} else if c.in.closed {
			c.in.mu.Unlock()
			return 0, io.EOF
		}
		notify := c.in.notify
		c.in.mu.Unlock()
		_, healed := c.n.isCut(c.local.IP.String(), c.remote.IP.String())
		c.dmu.Lock()
		dl, dlc := c.rdl, c.dlChanged
		c.dmu.Unlock()
		var tc <-chan time.Time
		if wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			tc = t.C
		}
		var dc <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, errTimeout
			}
			t := time.NewTimer(d)
			defer t.Stop()
			dc = t.C
		}
		select {
		case <-notify:
		case <-tc:
		case <-healed:
		case <-dlc:
		case <-dc:
			return 0, errTimeout
		}
	}
}

func (c *conn) Write(b []byte) (int, error) {
	c.dmu.Lock()
	dl := c.wdl
	c.dmu.Unlock()
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, errTimeout
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if c.out.reset {
		return 0, syscall.ECONNRESET
	}
	if c.out.closed {
		return 0, net.ErrClosed
	}
	c.out.chunks = append(c.out.chunks, chunk{b: append([]byte(nil), b...), at: time.Now().Add(c.latency)})
	c.out.changed()
	return len(b), nil
}

// Close closes this end: the peer reads EOF after the data in flight.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.out.mu.Lock()
		c.out.closed = true
		c.out.changed()
		c.out.mu.Unlock()
		c.in.mu.Lock()
		c.in.reset = true
		c.in.changed()
		c.in.mu.Unlock()
		c.n.forget(c)
	})
	return nil
}

// breakBoth resets the connection on both ends (a crashed host).
func (c *conn) breakBoth() {
	for _, p := range []*pipe{c.in, c.out} {
		p.mu.Lock()
		p.reset, p.closed = true, true
		p.chunks = nil
		p.changed()
		p.mu.Unlock()
	}
	c.n.forget(c)
	c.n.forget(c.peer)
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadlines(t, t, true, true)
	return nil
}
func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(t, time.Time{}, true, false)
	return nil
}
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(time.Time{}, t, false, true)
	return nil
}

func (c *conn) setDeadlines(r, w time.Time, setR, setW bool) {
	c.dmu.Lock()
	if setR {
		c.rdl = r
	}
	if setW {
		c.wdl = w
	}
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
	c.dmu.Unlock()
}

var _ = errors.New

// DialsBetween is how many connections host from opened (or tried) to
// host to.
func (n *Network) DialsBetween(from, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pairDials[[2]string{from, to}]
}
