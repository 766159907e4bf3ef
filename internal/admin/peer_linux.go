package admin

import (
	"fmt"
	"net"
	"os/user"
	"strconv"
	"syscall"
)

// peerOf names the process at the other end of an admin socket
// connection from the kernel's SO_PEERCRED: "uid=0(root) pid=123".
func peerOf(c net.Conn) string {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok { // a watched connection (httprefusal)
		c = w.NetConn()
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "unknown"
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "unknown"
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return "unknown"
	}
	name := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(cred.Uid), 10)); err == nil {
		name = "(" + u.Username + ")"
	}
	return fmt.Sprintf("uid=%d%s pid=%d", cred.Uid, name, cred.Pid)
}
