package queue

import (
	"testing"
	"time"
)

// namedDeliverer names the destinations of the configuration in force
// (DestinationNamer) and gives each the default limit.
type namedDeliverer struct {
	limitDeliverer
	named map[string]bool
}

func (n namedDeliverer) DestinationNamed(key string) bool { return n.named[key] }

// Q-6, OPS-1: a reload that renames or removes a send connector drops
// the scheduler's destinations of it that nothing waits for or runs on —
// failing or dead, they stayed in queue destinations, the metrics
// (umbra_scheduler_destinations{state="failing"}, the window gauge of
// the old queue) and the cool-down a resume of the old queue promised,
// while no queue of that name existed any more (rt26c F4, F5). One with
// a job running stays until the job is done, then goes at the next
// pruning; a destination the configuration still names, or one no
// configuration names (an MX domain, a redirect target: the deliverer
// says so), stays.
func TestReloadDropsDestinationsNoConfigurationNames(t *testing.T) {
	s := openTest(t)
	named := map[string]bool{"connector:relay": true, "mx:a.example": true, "redirect:h.example": true}
	q := NewManager(s, namedDeliverer{limitDeliverer{map[string]int{"connector:relay": 0}}, named}, ManagerConfig{})
	now := q.clk.Now()
	q.sched.mu.Lock()
	failing := q.sched.destFor("connector:sink", "smarthost:sink", 0)
	failing.streak, failing.lastErr, failing.nextTry = 5, "connection refused", now.Add(time.Minute)
	dead := q.sched.destFor("connector:gone", "smarthost:gone", 0)
	dead.streak, dead.deadUntil = 5, now.Add(5*time.Minute)
	busy := q.sched.destFor("connector:busy", "smarthost:busy", 0)
	busy.busy, busy.running = 1, map[ID]int{1: 1}
	busy.lastUse = now
	for _, k := range []string{"connector:relay", "mx:a.example", "redirect:h.example"} {
		q.sched.destFor(k, k, 0).streak = 1
	}
	q.sched.mu.Unlock()

	q.SetReloadable(0, 0)
	got := map[string]bool{}
	for _, di := range q.Destinations() {
		got[di.Name] = true
	}
	for _, k := range []string{"connector:sink", "connector:gone"} {
		if got[k] {
			t.Errorf("%s, of a connector the reloaded configuration does not have, still listed: %v", k, got)
		}
	}
	for _, k := range []string{"connector:busy", "connector:relay", "mx:a.example", "redirect:h.example"} {
		if !got[k] {
			t.Errorf("%s dropped by the reload: %v", k, got)
		}
	}
	if cd := q.coolingDown(now); !cd["smarthost:gone"].IsZero() {
		t.Errorf("the dropped dead destination still cools its old queue down: %v", cd)
	}

	// Its job done, the unnamed one goes at the next pruning, however
	// recently it was used.
	q.sched.mu.Lock()
	busy.busy, busy.running = 0, nil
	q.sched.mu.Unlock()
	q.pruneDests(now)
	for _, di := range q.Destinations() {
		if di.Name == "connector:busy" {
			t.Errorf("connector:busy kept after its job though no configuration names it")
		}
	}
}
