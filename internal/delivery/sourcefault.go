package delivery

import (
	"errors"
	"fmt"
	"net"
)

// sourceFault is a session to another transport server that could not
// be opened because this server cannot bind the source address its
// connection goes from (an address removed from the host since the
// start or the reload checked it: checkSourceAddresses). It is this
// server's own fault (shadow.LocalFault), not the peer's: counted as a
// failed heartbeat, every primary's copies were taken over at the retry
// count while the primaries, alive, delivered them too — the class of
// rt45 redirect (a session failing here before any connection).
type sourceFault struct {
	what, addr string // "server.source_address" or "send connector NAME source_address", the address
	err        error
}

func (e *sourceFault) Error() string {
	// What to do is what works: the server section applies only at a
	// restart — a reload keeps the running server.source_address (and
	// fails its check of it: checkSourceAddresses) —, a send
	// connector's source_address at a reload.
	apply := "and reload"
	if e.what == "server.source_address" {
		apply = "and restart umbra (a reload keeps the running server section)"
	}
	return fmt.Sprintf("this server's %s %s cannot be bound on this host (%v): no connection was made; give the host that address again, or set %s to one of its addresses %s",
		e.what, e.addr, e.err, e.what, apply)
}
func (e *sourceFault) Unwrap() error { return e.err }

// LocalFault marks it as this server's (shadow.LocalFault).
func (*sourceFault) LocalFault() {}

// localFault reports whether err is a session's failure of this
// server's own making (shadow.LocalFault: a panic recovered, a source
// address it cannot bind), which says nothing of the peer.
func localFault(err error) bool {
	var lf interface{ LocalFault() }
	return errors.As(err, &lf)
}

// sourceLost is the sourceFault of a connection through sc (nil: the
// organisation's own way, from server.source_address) that failed: the
// source address it binds can no longer be bound here. nil when it can,
// or when none is set — the failure was then the peer's or the
// network's.
func (st *state) sourceLost(sc *sendConnector) error {
	if st.cfg.Dial != nil {
		return nil // a test's dialer binds nothing
	}
	addr, what := st.cfg.SourceAddress, "server.source_address"
	if sc != nil && sc.cfg.SourceAddress != "" {
		addr, what = sc.cfg.SourceAddress, "send connector "+sc.cfg.Name+" source_address"
	}
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return &sourceFault{what: what, addr: addr, err: err}
	}
	ln.Close()
	return nil
}
