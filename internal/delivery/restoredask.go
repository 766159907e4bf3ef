package delivery

import (
	"slices"
	"strings"

	"umbra/internal/mailaddr"
)

// A database restored from a backup asks every transport server of the
// topology, not only the holders of its own messages, about the copies
// of the database it was restored from (queue restoredhanded.go): one
// it handed to a server in a shadow session after the backup is that
// server's, and the copy the backup held of it here must not be taken
// over again. The holders' probe asks it (askTakenDone, FROM=); the
// servers that hold nothing for this one are probed by the holders'
// passes too (Unasked, shadow.Holders), until each has answered whole
// once — this start, or an earlier one (kept: RestoredAnswers), so that
// once every server of the topology answered, later starts neither ask
// nor wait. Then the queue's takeovers of copies held for other
// primaries go ahead (RestoredAsker.RestoredAsked); a server that does
// not answer holds them for at most the takeover bound from the start
// (queue SetRestoredAskBound), and stays asked at each pass after it.

// RestoredAsker is the part of the queue a restored database's question
// to every transport server reports to (queue.Manager).
type RestoredAsker interface {
	Predecessor
	// RestoredAsked: every transport server answered.
	RestoredAsked()
}

// RestoredAnswers keeps, across starts, the transport servers that
// answered the question whole (queue.Manager: meta restored_answered):
// a later start asks only the others, and none once every server of
// the topology answered.
type RestoredAnswers interface {
	RestoredAnsweredBy(server string) error
	RestoredUnanswered(servers []string) []string
}

// RestoredServers is every transport server of the topology but this
// one, for a database restored from a backup; nil otherwise. The start
// gives it to the queue's wait (queue SetRestoredAskBound).
func (h Holders) RestoredServers() []string { return h.restoredServers() }

// restoredServers is RestoredServers.
func (h Holders) restoredServers() []string {
	ra, ok := h.Q.(RestoredAsker)
	if !ok || ra.Predecessor() == "" {
		return nil
	}
	st := h.R.d.st.Load()
	if st.cfg.Topology == nil || st.cfg.ShadowServerID == "" {
		return nil
	}
	var out []string
	for _, n := range st.cfg.Topology.TransportServers() {
		if mailaddr.NameKey(n) != mailaddr.NameKey(st.cfg.LocalServer) {
			out = append(out, n)
		}
	}
	return out
}

// Unasked implements shadow.PredecessorAsker: the transport servers a
// restored database has not heard whole yet this start (none for a
// database never restored).
func (h Holders) Unasked() []string {
	all := h.restoredServers()
	left := all
	if ra, ok := h.Q.(RestoredAnswers); ok && len(all) > 0 {
		left = ra.RestoredUnanswered(all) // answered at an earlier start
	}
	var out []string
	for _, n := range left {
		if _, ok := h.R.restoredAnswered.Load(mailaddr.NameKey(n)); !ok {
			out = append(out, n)
		}
	}
	if all != nil && len(out) == 0 {
		h.Q.(RestoredAsker).RestoredAsked() // every one answered, or none to ask
	}
	return out
}

// restoredAnswer records that server's probe answered whole; the last
// of the topology's ends the queue's wait.
func (h Holders) restoredAnswer(server string) {
	all := h.restoredServers()
	if all == nil {
		return
	}
	h.R.restoredAnswered.Store(mailaddr.NameKey(server), true)
	// Kept, after the commits that applied its answer (the probe
	// returned only then): a later start does not ask it again. Not a
	// server asked without FROM= (a release below shadow verbs 22): it
	// lists no TAKEN line, and once upgraded it is asked again at the
	// next start, where its answer may still settle copies not yet
	// taken over.
	if v, _ := h.R.askedFrom.Load(strings.ToLower(server)); v != true {
		h.R.d.log.Info("a transport server asked without FROM= (a release before shadow verbs 22) answered; asked again at the next start",
			"server", server)
	} else if ra, ok := h.Q.(RestoredAnswers); ok && slices.ContainsFunc(all, func(n string) bool { return mailaddr.NameKey(n) == mailaddr.NameKey(server) }) {
		if err := ra.RestoredAnsweredBy(server); err != nil {
			h.R.d.log.Error("recording that a transport server answered which copies of the database this one was restored from it holds failed; asked again at the next start",
				"server", server, "err", err)
		}
	}
	h.Unasked() // the last one ends the wait
}
