// Package systemd speaks the sd_notify protocol: READY=1 once the
// listeners and the transport database are up, STOPPING=1 when draining.
// Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
package systemd
