package delivery

import (
	"umbra/internal/queue"
)

// signOutbound adds umbra's DKIM-Signature and ARC set (package signing)
// to a copy that leaves the organisation through a send connector. It
// runs at each attempt on the stored body (which is never changed, so a
// shadow copy, the dumpster and a retry all start from what was
// received): each attempt sends exactly one umbra signature, stamped
// with the attempt's time, over exactly the bytes sent. A message the
// signer cannot handle (no header/body separator) leaves unsigned with a
// warning: a signature is a statement about the message, not a condition
// of delivering it.
func (d *Deliverer) signOutbound(st *state, m *queue.Message, body []byte) []byte {
	if st.cfg.Signer == nil {
		return body
	}
	out, res, err := st.cfg.Signer.Sign(body, m.From)
	if err != nil {
		d.log.Warn("message sent unsigned", "msg_id", m.ID.String(), "err", err)
		return body
	}
	if res.NoARC != "" {
		d.log.Info("message forwarded without ARC set", "msg_id", m.ID.String(), "reason", res.NoARC)
	}
	if res.DKIM != "" || res.ARC != 0 {
		d.log.Debug("message signed", "msg_id", m.ID.String(), "dkim_domain", res.DKIM, "arc_instance", res.ARC)
	}
	return out
}
