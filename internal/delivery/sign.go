package delivery

import (
	"context"
	"log/slog"

	"umbra/internal/queue"
	"umbra/internal/signing"
)

// SigningObserver counts signing results (metrics.Signing): DKIM
// "signed", "no_key", "external" (not originated inside the
// organisation: queue.Message.Internal) or "error"; ARC "sealed" or "skipped".
type SigningObserver interface {
	DKIM(result string)
	ARC(result string)
}

// SetSigning sets the observer of signing results, before the first
// delivery; it is kept across reloads.
func (d *Deliverer) SetSigning(o SigningObserver) { d.signing = o }

// signOutbound adds umbra's DKIM-Signature and ARC set (package signing)
// to a copy that leaves the organisation through a send connector. It
// runs at each attempt on the stored body (which is never changed, so a
// shadow copy, the dumpster and a retry all start from what was
// received): each attempt sends exactly one umbra signature over exactly
// the bytes sent; the signer remembers what it made for a message, so a
// retry sends the same fields rather than a new signature. A message the
// signer cannot handle (no header/body separator) leaves unsigned with a
// warning: a signature is a statement about the message, not a condition
// of delivering it.
func (d *Deliverer) signOutbound(st *state, m *queue.Message, body []byte) []byte {
	if st.cfg.Signer == nil {
		return body
	}
	out, res, err := st.cfg.Signer.SignOrigin(body, m.From, m.Internal)
	d.noteSigning(m, res, err)
	if err != nil {
		return body
	}
	return out
}

// noteSigning logs and counts a signing's result.
func (d *Deliverer) noteSigning(m *queue.Message, res signing.Result, err error) {
	o := d.signing
	if err != nil {
		d.log.Warn("message sent unsigned", "msg_id", m.ID.String(), "err", err)
		if o != nil {
			o.DKIM("error")
		}
		return
	}
	if res.NoARC != "" {
		d.log.Info("message forwarded without ARC set", "msg_id", m.ID.String(), "reason", res.NoARC)
	}
	if (res.DKIM != "" || res.ARC != 0) && d.log.Enabled(context.Background(), slog.LevelDebug) { // no allocations for it with debug off
		d.log.Debug("message signed", "msg_id", m.ID.String(), "dkim_domain", res.DKIM, "arc_instance", res.ARC)
	}
	if o != nil {
		switch {
		case res.DKIM != "":
			o.DKIM("signed")
		case !m.Internal:
			o.DKIM("external")
		default:
			o.DKIM("no_key")
		}
		switch {
		case res.ARC != 0:
			o.ARC("sealed")
		case res.NoARC != "":
			o.ARC("skipped")
		}
	}
}
