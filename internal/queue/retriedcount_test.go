package queue

import "testing"

// Q-3, OPS-2 (rt31e F1): a message in its attempt whose record names
// another queue than its jobs' — retried out of unreachable once a
// reload added a send connector, a redirect, a taken-over copy — is
// counted in the queue its record names by where its jobs are: active
// where one runs, waiting where they only wait for a slot, as message
// list shows it. Five retried out of unreachable behind a destination
// of one slot read {"active": 5} in queue list's by_state and the
// gauge where message list said 1 active, 4 waiting.
func TestOPSRetriedFromOtherQueueCountsWaitingAsMessageList(t *testing.T) {
	s, t0, _, o, q, ctx := startSlotWaitQueue(t)

	var ids []ID
	for k := range 5 {
		m := msg(s, "a@example.org", "w@x.example")
		m.Arrived = t0
		m.Rcpts[0].Queue = "unreachable" // deferred there before a connector served it
		m.Rcpts[0].LastReply = "451 4.4.4 no send connector serves x.example"
		if k == 0 {
			o.mu.Lock()
			o.hold = m.ID // holds x.example's one slot
			o.mu.Unlock()
		}
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "one running, four waiting for the slot", func() bool {
		n := 0
		for _, id := range ids[1:] {
			if q.WaitingForWindow(id) {
				n++
			}
		}
		return n == 4
	})
	sv := q.StateView()
	shown := map[string]int{}
	for _, id := range ids {
		m, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := QueuesOf(m); len(got) != 1 || got[0] != "unreachable" {
			t.Fatalf("message %v in queues %v; want unreachable (the scenario)", id, got)
		}
		shown[sv.State(m)]++
	}
	if shown["active"] != 1 || shown["waiting"] != 4 {
		t.Fatalf("message list: %v; want 1 active, 4 waiting", shown)
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	var info *QueueInfo
	for i := range qs {
		if qs[i].Name == "unreachable" {
			info = &qs[i]
		}
	}
	if info == nil {
		t.Fatalf("unreachable not listed: %+v", qs)
	}
	if info.Count != 5 || info.ByState["active"] != 1 || info.ByState["waiting"] != 4 {
		t.Errorf("queue list unreachable: %d messages, by_state %v; message list says 1 active, 4 waiting", info.Count, info.ByState)
	}
	stats, err := s.QueueStats(q)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range stats {
		if st.Name == "unreachable" {
			found = true
			if active := st.ByState[Active] - st.Waiting; active != 1 || st.Waiting != 4 {
				t.Errorf("queue gauges' stats for unreachable: %d active, %d waiting; message list says 1 active, 4 waiting", active, st.Waiting)
			}
		}
	}
	if !found {
		t.Errorf("unreachable not in the gauges' stats: %+v", stats)
	}
}

// Q-3, OPS-2 (rt31e F1, IN/MIN): a recipient still in submission of a
// message past its first attempt (another recipient of it was deferred
// into a queue of its own) is listed in submission while its job runs,
// as queue list and message list count it: IN/MIN and OUT/MIN move it
// when its result does, not at the plan — the plan counted it out of
// submission and into its job's queue, which listed neither.
func TestOPSRetryOfPartlyQueuedMessageCountsInWhereListed(t *testing.T) {
	s, t0, clk, o, q, ctx := startSlotWaitQueue(t)

	m := msg(s, "a@example.org", "w@x.example", "v@y.example")
	m.Arrived = t0
	m.Rcpts[1].Queue = "mx:y.example" // deferred there; w@x.example never named a queue
	m.Rcpts[1].LastReply = "451 4.4.1 try later"
	o.mu.Lock()
	o.hold = m.ID // its jobs run and hold
	o.mu.Unlock()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "its jobs running", func() bool { return len(q.attemptsOn("mx:x.example")) == 1 })
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]QueueInfo{}
	for _, qi := range qs {
		byName[qi.Name] = qi
	}
	sub, ok := byName[QueueSubmission]
	if !ok || sub.Count != 1 {
		t.Fatalf("queue list: %+v; want the message in submission, as message list shows it", qs)
	}
	if sub.OutgoingRate != 0 {
		t.Errorf("submission OUT/MIN %d while its recipient is listed there, before any result", sub.OutgoingRate)
	}
	q.qmu.Lock()
	in := 0
	if r := q.runtime["mx:x.example"]; r != nil {
		in = r.in.count(clk.Now())
	}
	q.qmu.Unlock()
	if in != 0 {
		t.Errorf("mx:x.example IN/MIN %d before its recipient is listed there", in)
	}
}
