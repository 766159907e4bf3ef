package delivery

import "strings"

// leavesOrganisation: a send connector's next hop (smart host or MX) is
// outside the organisation, so the copy sent there carries no umbra
// header (package orgid): an outsider who saw an organisation id could
// otherwise hand it back through a trusting connector and have the
// message suppressed as a duplicate. Organisation hops (deliverOrg) and
// final delivery keep it. Two send-connector hops stay inside: an
// administrator's redirect (queue redirect to another server of the
// organisation), and, without a topology (nothing else then says where
// the organisation ends), a connector with send_xshadow — shadow
// redundancy is only spoken with servers of the organisation.
func leavesOrganisation(st *state, g *group) bool {
	switch {
	case strings.HasPrefix(g.key, "redirect:"):
		return false
	case st.cfg.Topology == nil && g.conn != nil && g.conn.cfg.SendXShadow:
		return false
	}
	return true
}
