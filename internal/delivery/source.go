package delivery

import (
	"context"
	"fmt"
	"net"

	"umbra/internal/config"
)

// dialer is the dialer of an outbound connection on network: bound to
// the send connector's source_address (sc may be nil: a relay inside the
// organisation, a heartbeat, LMTP), else to the server's, else unbound.
// A Unix socket (LMTP) binds to nothing.
func (st *state) dialer(sc *sendConnector, network string) net.Dialer {
	d := net.Dialer{Timeout: st.cfg.ConnectTimeout}
	addr := st.cfg.SourceAddress
	if sc != nil && sc.cfg.SourceAddress != "" {
		addr = sc.cfg.SourceAddress
	}
	if addr != "" && network == "tcp" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(addr)}
	}
	return d
}

// dial opens an outbound connection: through Config.Dial when set,
// else with the dialer of sc (source address, connect timeout).
func (st *state) dial(ctx context.Context, sc *sendConnector, network, addr string) (net.Conn, error) {
	if st.cfg.Dial != nil {
		if st.cfg.ConnectTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, st.cfg.ConnectTimeout)
			defer cancel()
		}
		return st.cfg.Dial(ctx, network, addr)
	}
	d := st.dialer(sc, network)
	if host, port, err := net.SplitHostPort(addr); err == nil && network == "tcp" && net.ParseIP(host) == nil {
		return st.dialName(ctx, &d, host, port)
	}
	return d.DialContext(ctx, network, addr)
}

// dialName connects to a host given by name (a topology server's or an
// LMTP address), its addresses found by the resolver umbra uses for every
// lookup, tried in order, each with its share of the connect deadline
// (config.DialAddrs), as Go's dialer of a name gives it. An unspecified address among them (0.0.0.0,
// ::) is never connected to — it reaches this machine itself, as the
// literal address refused at load would —, and a name with no other is
// refused naming it (config.UnspecifiedNameError): the caller's deferral
// and its log line say so.
func (st *state) dialName(ctx context.Context, d *net.Dialer, host, port string) (net.Conn, error) {
	addrs, err := st.cfg.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	addrs, dropped := config.DropUnspecified(addrs)
	if len(addrs) == 0 && dropped != "" {
		return nil, &config.UnspecifiedNameError{Host: host, Addr: dropped}
	}
	return config.DialAddrs(ctx, d, "tcp", host, addrs, port)
}

// checkSourceAddresses binds each configured source address once, so
// that an address this host does not have fails the start (or the
// reload), not every delivery.
func (st *state) checkSourceAddresses() error {
	addrs := map[string]string{}
	if a := st.cfg.SourceAddress; a != "" {
		addrs[a] = "server.source_address"
	}
	for _, sc := range st.conns {
		if a := sc.cfg.SourceAddress; a != "" {
			addrs[a] = "send connector " + sc.cfg.Name + " source_address"
		}
	}
	for a, what := range addrs {
		if net.ParseIP(a) == nil {
			return fmt.Errorf("%s %q is not an IP address", what, a)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(a, "0"))
		if err != nil {
			return fmt.Errorf("%s %s cannot be bound on this host: %w", what, a, err)
		}
		ln.Close()
	}
	return nil
}
