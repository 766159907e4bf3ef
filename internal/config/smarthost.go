package config

import (
	"net"
	"strconv"
	"umbra/internal/mailaddr"
)

// SmartHostNames reports how a send connector's smart host sh (port: the
// connector's port, for a smart host without one) names the transport
// server name at addr ("host:port"): 2 when sh is addr exactly, 1 when
// its host is the server's name or its address's host on the same port,
// 0 when it is not that server (another port of the same host is another
// service, with another account). A session to another transport server
// logs in through the connector that names it best.
func SmartHostNames(sh string, port int, name, addr string) int {
	if sh == addr {
		return 2
	}
	host, aport, err := net.SplitHostPort(addr)
	if err != nil {
		host, aport = addr, strconv.Itoa(DefaultSMTPPort)
	}
	h, p, err := net.SplitHostPort(SmartHostAddr(sh, port))
	if err != nil {
		h, p = sh, strconv.Itoa(DefaultSMTPPort)
	}
	if p == aport && (mailaddr.NameKey(h) == mailaddr.NameKey(name) || h == host) {
		return 1
	}
	return 0
}

// SmartHostAddr is the host:port a smart host sh is dialled at: its own
// port, else the connector's (port; DefaultSMTPPort when 0). A smart host
// that does not parse is returned as it is.
func SmartHostAddr(sh string, port int) string {
	h, p, err := mailaddr.SplitHostPort(sh)
	if err != nil {
		return sh
	}
	if p == "" {
		if port == 0 {
			port = DefaultSMTPPort
		}
		p = strconv.Itoa(port)
	}
	return net.JoinHostPort(h, p)
}
