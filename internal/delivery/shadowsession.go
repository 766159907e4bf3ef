package delivery

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"umbra/internal/smtp"
)

// openShadow makes the session a shadow session when this server shadows
// and the peer offers XSHADOW; the peer is then the primary, named by hop.
func (d *Deliverer) openShadow(st *state, c *smtp.Client, primary string) {
	if st.cfg.ShadowServerID == "" || c.ShadowDB != "" {
		return
	}
	db, err := c.Shadow(st.cfg.ShadowServerID)
	if errors.Is(err, smtp.ErrNoShadow) {
		return // a non-shadow next hop (SR-10): deliver and forget
	}
	if err != nil {
		d.log.Info("shadow session refused; relaying without it", "primary", primary, "err", err)
		return
	}
	c.SetHop(primary)
	if st.cfg.Shadows != nil {
		st.cfg.Shadows.Presented(primary, db, nil)
	}
}

// queryDiscardsEvery bounds how often a busy shadow session asks for
// discards (SR-3: during and at the end of sessions with a primary).
const queryDiscardsEvery = time.Second

func (d *Deliverer) queryDiscards(st *state, c *smtp.Client, primary string) {
	if st.cfg.Shadows == nil || time.Since(c.LastQuery) < queryDiscardsEvery {
		return
	}
	c.LastQuery = time.Now()
	var all []string
	for i := 0; i < 100; i++ {
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			d.log.Info("XQUERYDISCARD failed", "primary", primary, "err", err)
			// The batches read are forgotten at the primary (it had
			// the next command): applied, but no contact.
			if len(all) > 0 {
				st.cfg.Shadows.Presented(primary, c.ShadowDB, all)
			}
			return
		}
		all = append(all, ids...)
		if len(ids) < 1000 {
			break
		}
	}
	st.cfg.Shadows.Contact(primary, c.ShadowDB, all)
}

// endSession closes a pooled connection. On a shadow session it first
// asks the primary for its discard notifications: at the end of every
// session with a primary (SR-3), not only at most once a second during
// it, so that copies do not wait for the next heartbeat.
func (d *Deliverer) endSession(c *smtp.Client) {
	if c.ShadowDB != "" {
		c.LastQuery = time.Time{}
		d.queryDiscards(d.st.Load(), c, c.Hop())
	}
	c.Quit()
}

// Heartbeat opens a session to a primary only to ask for its discard
// notifications (SR-5, W-5): EHLO, STARTTLS and AUTH as the send
// connector the copies went through does (addr is "host:port" or
// "host:port via CONNECTOR"), XSHADOW, XQUERYDISCARD…, QUIT, each step
// bounded by ctx and the command timeout.
func (d *Deliverer) Heartbeat(ctx context.Context, primary, addr string) (string, []string, error) {
	hostAddr, _, _ := strings.Cut(addr, " via ")
	db, ids, err := d.heartbeat(ctx, primary, addr)
	if err != nil {
		// Deliveries try other servers first from now on (SR-16).
		d.health.Unresponsive(time.Now(), err.Error(), primary, hostAddr)
	} else {
		d.health.Responsive(primary, hostAddr)
	}
	return db, ids, err
}

func (d *Deliverer) heartbeat(ctx context.Context, primary, addr string) (string, []string, error) {
	st := d.st.Load()
	addr, via, _ := strings.Cut(addr, " via ")
	var sc *sendConnector
	if via != "" {
		if sc = st.conns[via]; sc == nil {
			return "", nil, fmt.Errorf("send connector %s is gone", via)
		}
		c, err := d.connect(ctx, st, sc, host{name: primary, addr: addr})
		if err != nil {
			return "", nil, err
		}
		defer c.Close()
		return d.queryAll(ctx, st, c)
	}
	nc, err := st.dial(ctx, nil, "tcp", addr)
	if err != nil {
		return "", nil, err
	}
	c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: primary, TLS: smtp.TLSOpportunistic,
		RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout})
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	return d.queryAll(ctx, st, c)
}

// queryAll is the heartbeat's XSHADOW and XQUERYDISCARD loop.
func (d *Deliverer) queryAll(ctx context.Context, st *state, c *smtp.Client) (string, []string, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	db, err := c.Shadow(st.cfg.ShadowServerID)
	if err != nil {
		return "", nil, err
	}
	var all []string
	for i := 0; i < 100; i++ {
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			return db, all, err // the batches read: forgotten at the primary
		}
		all = append(all, ids...)
		if len(ids) < 1000 {
			break
		}
	}
	c.Quit()
	return db, all, nil
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}
