package delivery

import (
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// statedOther is openShadow's refusal ("" none) of a next hop server of
// the topology that states, in its XSHADOW reply (shadow verbs 20, its
// server.name), another name than the one the topology gives it — a
// server renamed in the shared topology whose own reload was refused
// (its server.name is no server of the file): it runs on under its old
// name, while this server dials it under the new one (sites48 F1).
//
// Such a primary gets no copy here. It files the discard notifications
// it owes this server under this server, not under the name this server
// filed the copy under, and any of this server's sessions to that
// process — the relay's query at its end, the watch session and the
// heartbeat of the old name, still held copies of, and of the new name
// — fetches them: one fetched under the name the copy is not filed
// under found nothing, the primary forgot it, and the copy it finished
// with was taken over at its failure and delivered a second time. A
// copy made under the name the primary states would match its
// discards, but that name is no server of this topology (or another
// server's), whose contacts are judged as such. The relay goes to the
// hop's next server instead, or waits (451 4.7.0, no failure of the
// destination: the server answered); the server is marked refused:NAME
// for relays (tried last) until a session of it is let in without this
// refusal; a WARN says so once per name pair in a process. Names are
// compared as the topology compares them (letter case, final dot). A
// server below shadow verbs 20 states no name: nothing to judge.
func (d *Deliverer) statedOther(st *state, c *smtp.Client, primary string) string {
	stated := c.ShadowName
	if stated == "" || !transportServerOf(st, primary) || mailaddr.NameKey(stated) == mailaddr.NameKey(primary) {
		return ""
	}
	d.health.Unresponsive(time.Now(), "next hop server states the name "+stated+" as its own", refusedKey(primary))
	if _, warned := d.statedWarned.LoadOrStore(mailaddr.NameKey(primary)+"\x00"+mailaddr.NameKey(stated), struct{}{}); !warned {
		d.log.Warn("no relay with a shadow copy to a next hop server that states another name than the topology's (a rename in the topology its own reload refused?): relays go to the hop's other servers, or wait",
			"next_hop", primary, "stated_name", stated)
	}
	return "451 4.7.0 Not relayed to " + primary + ": it " + statedOtherWords + " (" + stated +
		", its server.name): a shadow copy here under " + primary + " would not be matched by its discard notifications"
}

// statedOtherWords is in statedOther's reply and in the log line of the
// relay it turns away (skippedWhy).
const statedOtherWords = "states another name than the topology's"
