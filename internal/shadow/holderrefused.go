package shadow

import "time"

// HolderRefusal is a shadow server whose shadow sessions this server's
// receive side refuses since the last one let in, so that it gets no
// copy on receipt from here but its try once a minute (package delivery,
// refusedretry.go, keeps the record; rt29a F2). It holds no copy of
// this server's, nor this server of its: Status lists it as a refused
// row with no copies, Why saying since when, when it is tried again and
// what ends it, so that shadow list and queue destinations
// (server:refused:NAME) tell one story.
type HolderRefusal struct {
	Server             string
	Since, LastRefused time.Time
	Why                string
}

// SetHolderRefusals sets where Status reads the holders whose sessions
// are refused here (nil: none).
func (r *Recorder) SetHolderRefusals(f func() []HolderRefusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holderRefusals = f
}

func (r *Recorder) holdersRefused() []HolderRefusal {
	r.mu.Lock()
	f := r.holderRefusals
	r.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// SetServerKnown sets the test of a server name against the topology in
// force (nil: every name known): Status shows no row of its own, refused,
// for a server it does not know — one removed from the topology (shadow30
// item 1) — neither a server whose contacts this server refuses
// (refusedHere) nor a holder whose sessions are refused here. A primary
// whose copies are held here keeps its row whatever the topology says.
func (r *Recorder) SetServerKnown(f func(name string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serverKnown = f
}

// knownServer: name is a server of the topology in force (SetServerKnown).
func (r *Recorder) knownServer(name string) bool {
	r.mu.Lock()
	f := r.serverKnown
	r.mu.Unlock()
	return f == nil || f(name)
}
