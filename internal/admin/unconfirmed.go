package admin

import (
	"strings"

	"umbra/internal/queue"
)

// unconfirmedPushes is the part of the queue that knows the servers a
// copy on receipt was pushed to without confirmation (rt20a F3).
type unconfirmedPushes interface {
	UnconfirmedPushes(id queue.ID) []queue.UnconfirmedPush
}

// showUnconfirmed puts into v (message id) the servers other than the
// one holding its copy (v.ShadowCopy) that may hold a copy on receipt
// of it: pushed to without confirmation (README "Unconfirmed copies").
func (s *Server) showUnconfirmed(v *MessageView, id queue.ID) {
	up, ok := s.q.(unconfirmedPushes)
	if !ok {
		return
	}
	for _, p := range up.UnconfirmedPushes(id) {
		if !strings.EqualFold(p.Server, v.ShadowCopy) {
			v.Unconfirmed = append(v.Unconfirmed, p)
		}
	}
}

// alsoPushed is shadow single's list of the servers, other than the one
// its copy was lost on, that message c's copy was pushed to without
// confirmation: each may hold it.
func (s *Server) alsoPushed(c queue.SingleCopy) []string {
	up, ok := s.q.(unconfirmedPushes)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range up.UnconfirmedPushes(c.ID) {
		if !strings.EqualFold(p.Server, c.Lost) {
			out = append(out, p.Server)
		}
	}
	return out
}
