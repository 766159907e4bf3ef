package admin

import (
	"slices"
	"strings"

	"umbra/internal/queue"
)

// unconfirmedPushes is the part of the queue that knows the servers a
// copy on receipt was pushed to without confirmation (rt20a F3).
type unconfirmedPushes interface {
	UnconfirmedPushes(id queue.ID) []queue.UnconfirmedPush
}

// pushAskedOf is the part of the queue that knows the open question of
// a copy on receipt a stop cut short (queue.Manager.PushAskedOf).
type pushAskedOf interface {
	PushAskedOf(id queue.ID) (string, bool)
}

// showUnconfirmed puts into v (message id) the servers other than the
// one holding its copy (v.ShadowCopy) that may hold a copy on receipt
// of it: pushed to without confirmation (README "Unconfirmed copies").
//
// A copy whose push a stop cut short, its server not yet asked (or not
// answered) whether it stored it (queue PushAskedOf), is such a push
// too, not the copy's confirmed holder: until the question ends it is
// shown unconfirmed, never as "copy: on SERVER" (receipt48 item 4).
func (s *Server) showUnconfirmed(v *MessageView, id queue.ID) {
	if pa, ok := s.q.(pushAskedOf); ok {
		if server, asked := pa.PushAskedOf(id); asked {
			if strings.EqualFold(server, v.ShadowCopy) {
				v.ShadowCopy = ""
			}
			defer func() {
				if !slices.ContainsFunc(v.Unconfirmed, func(p queue.UnconfirmedPush) bool { return strings.EqualFold(p.Server, server) }) {
					v.Unconfirmed = append(v.Unconfirmed, queue.UnconfirmedPush{Server: server})
				}
			}()
		}
	}
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
