package config

import (
	"context"
	"net"
	"time"
)

// DialAddrs connects to one of addrs (a host name's addresses, looked up
// by the caller and passed through DropUnspecified), at port, trying them
// in order as Go's dialer of a name would: the connect deadline (the
// earliest of ctx's, d.Deadline and now+d.Timeout) is shared between the
// addresses left — address i of n gets the remaining time divided by
// n-i, at least 2s when that much remains — so that an address that does
// not answer (a host down behind a firewall that drops) does not take
// the whole deadline from the ones after it. host names the error when
// addrs is empty. The first connection made is returned, else the last
// error.
func DialAddrs(ctx context.Context, d *net.Dialer, network, host string, addrs []string, port string) (net.Conn, error) {
	deadline := d.Deadline
	if d.Timeout > 0 {
		if t := time.Now().Add(d.Timeout); deadline.IsZero() || t.Before(deadline) {
			deadline = t
		}
	}
	if t, ok := ctx.Deadline(); ok && (deadline.IsZero() || t.Before(deadline)) {
		deadline = t
	}
	var last error
	for i, a := range addrs {
		actx := ctx
		if !deadline.IsZero() {
			part, err := partialDeadline(time.Now(), deadline, len(addrs)-i)
			if err != nil {
				if last == nil {
					last = err
				}
				break
			}
			var cancel context.CancelFunc
			actx, cancel = context.WithDeadline(ctx, part)
			defer cancel()
		}
		c, err := d.DialContext(actx, network, net.JoinHostPort(a, port))
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if last == nil {
		last = &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
	}
	return nil, last
}

// partialDeadline is the deadline of one of addrsRemaining addresses
// dialled one after the other by deadline: Go's net package's rule
// (its partialDeadline), kept here for the dials that look a name up
// themselves.
func partialDeadline(now, deadline time.Time, addrsRemaining int) (time.Time, error) {
	remaining := deadline.Sub(now)
	if remaining <= 0 {
		return time.Time{}, &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}
	}
	timeout := remaining / time.Duration(addrsRemaining)
	const saneMinimum = 2 * time.Second
	if timeout < saneMinimum {
		timeout = min(remaining, saneMinimum)
	}
	return now.Add(timeout), nil
}
