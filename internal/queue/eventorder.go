package queue

import "sync"

// eventOrder keeps a message's tracking events in the order of the
// commits that made them (front47 F3). The events of an attempt's
// results ("shadow": the copy handed to a transport server) are written
// after their commit returns; a discard that the next hop sent for that
// copy is applied by a commit of its own, which can come between that
// commit and those events — and its "discard" line was then written
// before the hand-over it ends (umbra track showed the copy discarded
// before it was handed over). While a commit's events are owed
// (holdEvents … releaseEvents), the events later commits make of the
// same message wait, and are written after them, in their order.
//
// The zero value is ready. Only commits that can be followed by another
// commit's events of the same message before their own are written
// hold: the results of an attempt (finish), whose record leaves Active.
type eventOrder struct {
	mu    sync.Mutex
	owed  map[ID]int      // commits of the message whose events are owed
	after map[ID][]func() // later commits' events, in their order
}

// hold marks a commit of id whose events are not yet written.
func (o *eventOrder) hold(id ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owed == nil {
		o.owed, o.after = map[ID]int{}, map[ID][]func(){}
	}
	o.owed[id]++
}

// later keeps write to run after the events id's commits owe, and says
// so; false (write not run): none are owed, the caller writes now.
func (o *eventOrder) later(id ID, write func()) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owed[id] == 0 {
		return false
	}
	o.after[id] = append(o.after[id], write)
	return true
}

// release ends a hold of id (its events written, or none to write), and
// writes what waited for the last one, in its order.
func (o *eventOrder) release(id ID) {
	o.mu.Lock()
	if o.owed[id] == 0 {
		o.mu.Unlock()
		return
	}
	o.owed[id]--
	var run []func()
	if o.owed[id] == 0 {
		delete(o.owed, id)
		run = o.after[id]
		delete(o.after, id)
	}
	o.mu.Unlock()
	for _, f := range run {
		f()
	}
}
