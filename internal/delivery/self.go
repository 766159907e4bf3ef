package delivery

import (
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// SetDatabaseID tells the deliverer this server's transport database id,
// so that it recognises a next hop that is this server itself (selfRelay).
func (d *Deliverer) SetDatabaseID(id string) { d.selfDB.Store(&id) }

// selfRelay refuses a relay whose next hop is this server itself: the
// shadow session's peer presents this server's own transport database id
// (a copy-pasted server address in the topology, a smart host that points
// back here). Relaying would only send the message round in a loop until
// the hop limit; the recipients are deferred with a 4.4.6 (routing loop)
// reply that names the hop, so the operator can fix the address while
// the message waits, and the connection is closed, not pooled.
func (d *Deliverer) selfRelay(c *smtp.Client, hop string, rcpts []int) []queue.Result {
	self := d.selfDB.Load()
	if self == nil || *self == "" || c.ShadowDB != *self {
		return nil
	}
	d.log.Error("next hop is this server itself: not relaying (check the server addresses in the topology and smart hosts)",
		"next_hop", hop, "database_id", *self)
	c.Close()
	return deferAll(rcpts, hop, "451 4.4.6 routing loop: next hop "+hop+" is this server itself (it presents this server's transport database id)")
}
