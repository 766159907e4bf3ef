package queue

import "strings"

// StoppedDuring begins delivery's reply of an attempt the server's stop
// cut short (delivery, remote.go: "… during the MX lookup of D"): umbra's
// words, as stopReply is, not a host's.
const StoppedDuring = "451 4.3.2 delivery stopped (shutting down) during "

// stoppedByStop reports whether reply is umbra's own word that the
// server's stop cut the attempt: exactly stopReply, or a reply that
// begins with StoppedDuring. A host's own "421 4.3.2 Service shutting
// down" is the host's answer (rt27d F3, its sibling: any 4.3.2 reply
// that said "shutting down" counted as umbra's, so a host answering so
// was taken for no answer at all in its destination's feedback).
func stoppedByStop(reply string) bool {
	return reply == stopReply || strings.HasPrefix(reply, StoppedDuring)
}
