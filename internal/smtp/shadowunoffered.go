package smtp

import "strings"

// unofferedShadow answers XSHADOW id on a connector that does not offer
// the shadow verbs (no accept-xshadow in its permissions, or a reload
// took it away) with 502 5.5.1, as any verb not implemented here — and,
// when this server does shadow redundancy, takes it for what it is to a
// transport server whose copies this server keeps: a refusal of its
// shadow sessions, like one for its address, its certificate, its right
// or the topology (rt31a F1). So it is logged (the refusals' log line)
// and noted (noteShadowSession: the session's claim to be id its own, id
// a transport server of the topology): that holder gets no copy on
// receipt but one a minute, the discards owed to it are pushed, shadow
// list shows it refused. Before, the 502 was noted nowhere: the copies
// went on at every message, and the discards owed to the holder, whose
// queries were refused, never reached it — taken over when this server
// died, every message went out twice.
func (s *session) unofferedShadow(id string) string {
	const reply = "502 5.5.1 XSHADOW not available"
	if s.srv.shadow == nil || id == "" || len(id) > maxServerID || strings.ContainsAny(id, "\t ") {
		return reply // shadow redundancy off here, or no server id: nobody's session refused
	}
	s.srv.refusals.log(s.log, "shadow session refused", "the shadow verbs are not offered on this connector (no accept-xshadow)", fixedReply(reply), s.ip, "server_id", id)
	s.noteShadowSession(id, reply)
	return reply
}

// unofferedXShadow is the layer's 502 reply to XSHADOW arg where the
// shadow verbs are not offered (extensionSequence: no greeting makes
// them available), given to unofferedShadow when a session exists, so
// that the refusal is logged and noted as xshadow's own 502 is.
func (v *verbConn) unofferedXShadow(arg, reply string) string {
	s := v.sess()
	if s == nil {
		return reply
	}
	id, _, _ := strings.Cut(arg, " ")
	if r := s.unofferedShadow(id); r != "" {
		return r
	}
	return reply
}
