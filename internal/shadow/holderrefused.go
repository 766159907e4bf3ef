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
