// Package systemd speaks the sd_notify protocol: READY=1 once the
// listeners and the transport database are up, STOPPING=1 when draining.
// Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
package systemd

import (
	"net"
	"os"
)

// Notify sends state to the service manager. It reports whether a
// message was sent.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err == nil, err
}
