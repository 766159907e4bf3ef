package sim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault is one injected failure.
type Fault struct {
	Kind   string // crash, disk-loss, partition, refuse
	Target string // server, or "x|y" for a partition
	At     time.Duration
	For    time.Duration
}

func (f Fault) String() string {
	return fmt.Sprintf("%s %s at %v for %v", f.Kind, f.Target, f.At, f.For)
}

// Msg is one message an outside client submits.
type Msg struct {
	At        time.Duration
	Hub       string
	Rcpts     []string
	Wait      bool   // waits for a delayed acknowledgement (else gives up after 1 s)
	From      string // envelope sender; empty: sender@ext.test
	MessageID string // Message-ID header; empty: none
}

// Scenario is what a seed chooses, or a named regression spells out.
type Scenario struct {
	Name     string
	Seed     uint64
	Messages int
	Traffic  []Msg // nil: Messages random messages
	Faults   []Fault
	// NoShadow turns shadow redundancy off (the checker's own test: a
	// loss must be seen).
	NoShadow bool
	// ShadowOnReceipt is every hub connector's shadow_on_receipt (SR-17);
	// "" is off.
	ShadowOnReceipt string
}

// Outcome is the checker's verdict for one run.
type Outcome struct {
	Scenario
	Acked, Delivered, Bounced, Lost, DupMailbox, DupExternal int
	Unexplained                                              int
	// SuppressedAtMailbox counts copies the mailbox side's duplicate
	// rule dropped (a second hub delivered the same org id).
	SuppressedAtMailbox int
	// SuppressedNoFailover is the part of SuppressedAtMailbox in runs
	// without a mailbox failover (totals only).
	SuppressedNoFailover int
	// Dials counts connections per "from>to" server name pair.
	Dials    map[string]int
	Problems []string
	// MaxAckWait is the longest a client waited for a 250 after its data
	// (fake time): with shadow on receipt it is a copy's time, never the
	// next hop's.
	MaxAckWait time.Duration
}

// Failed reports whether the run broke the promise: a loss, a duplicate
// at a mailbox, or a bounce the checker cannot explain.
func (o Outcome) Failed() bool { return o.Lost+o.DupMailbox+o.Unexplained > 0 }

var rcptPool = []string{"u1@a.test", "u2@a.test", "u1@b.test", "u2@b.test", "x@ext.test", "refuse1@ext.test"}

// NewScenario draws a scenario from seed with nfaults faults.
func NewScenario(seed uint64, nfaults int) Scenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := Scenario{Seed: seed, Messages: 4 + r.IntN(8)}
	names := []string{}
	for _, h := range hubs {
		names = append(names, h.name)
	}
	ends := append(append([]string{}, names...), "mbx-a", "mbx-b", "ext")
	for range nfaults {
		f := Fault{At: time.Duration(2+r.IntN(50)) * time.Second, For: time.Duration(1+r.IntN(60)) * time.Second}
		switch k := r.IntN(10); {
		case k < 3:
			f.Kind, f.Target = "crash", names[r.IntN(len(names))]
		case k < 5:
			f.Kind, f.Target = "disk-loss", names[r.IntN(len(names))]
		case k < 8:
			a := names[r.IntN(len(names))]
			b := ends[r.IntN(len(ends))]
			for b == a {
				b = ends[r.IntN(len(ends))]
			}
			f.Kind, f.Target = "partition", a+"|"+b
		case k < 9:
			f.Kind, f.Target = "refuse", ends[r.IntN(len(ends))]
		default:
			f.Kind, f.Target = "mailbox-failover", []string{"db-a", "db-b"}[r.IntN(2)]
		}
		s.Faults = append(s.Faults, f)
	}
	sort.Slice(s.Faults, func(i, j int) bool { return s.Faults[i].At < s.Faults[j].At })
	return s
}

var ipOf = map[string]string{"a1": "10.1.0.1", "a2": "10.1.0.2", "b1": "10.2.0.1", "mbx-a": "10.1.0.9", "mbx-b": "10.2.0.9",
	"ext": "10.8.0.1"}

type ack struct{ id, rcpt string }

// Run plays a scenario in dir (inside a synctest bubble: every sleep is
// fake time) and checks every acknowledged recipient.
func Run(dir string, sc Scenario, log *slog.Logger) (Outcome, error) {
	r := rand.New(rand.NewPCG(sc.Seed, 0x7aff1c))
	out := Outcome{Scenario: sc}
	receipt := sc.ShadowOnReceipt
	if receipt == "" {
		receipt = "off"
	}
	org, err := NewOrgReceipt(dir, rand.New(rand.NewPCG(sc.Seed, 0x1a7e)), log, !sc.NoShadow, receipt)
	if err != nil {
		return out, err
	}
	var mu sync.Mutex
	var acked []ack
	var wg sync.WaitGroup
	start := time.Now()
	msgs := sc.Traffic
	if msgs == nil {
		for range sc.Messages {
			m := Msg{At: time.Duration(r.IntN(60000)) * time.Millisecond, Hub: hubs[r.IntN(len(hubs))].name,
				Wait: r.IntN(2) == 0}
			seen := map[string]bool{}
			for range 1 + r.IntN(3) {
				x := rcptPool[r.IntN(len(rcptPool))]
				if !seen[x] {
					seen[x] = true
					m.Rcpts = append(m.Rcpts, x)
				}
			}
			msgs = append(msgs, m)
		}
	}
	out.Messages = len(msgs)
	byName := map[string]*Node{}
	for _, n := range org.Nodes {
		byName[n.Name] = n
	}
	for i, m := range msgs {
		id := fmt.Sprintf("%d-%d", sc.Seed, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(m.At)
			from := m.From
			if from == "" {
				from = "sender@ext.test"
			}
			ok := org.Send(byName[m.Hub], from, id, m.MessageID, m.Rcpts, m.Wait)
			mu.Lock()
			for _, x := range ok {
				acked = append(acked, ack{id, x})
			}
			mu.Unlock()
		}()
	}
	// Faults, one after another, each healed after its duration.
	node := byName
	type heal struct {
		at time.Duration
		fn func()
	}
	var heals []heal
	healDue := func(before time.Duration) {
		for {
			sort.Slice(heals, func(i, j int) bool { return heals[i].at < heals[j].at })
			if len(heals) == 0 || heals[0].at > before {
				return
			}
			h := heals[0]
			heals = heals[1:]
			sleepUntil(start, h.at)
			h.fn()
		}
	}
	for _, f := range sc.Faults {
		healDue(f.At)
		sleepUntil(start, f.At)
		switch f.Kind {
		case "crash", "disk-loss":
			n := node[f.Target]
			if !n.up {
				continue
			}
			if f.Kind == "crash" {
				n.Crash()
			} else {
				n.LoseDisk()
			}
			heals = append(heals, heal{f.At + f.For, func() {
				if err := n.Start(); err != nil {
					panic(err)
				}
			}})
		case "partition":
			a, b, _ := strings.Cut(f.Target, "|")
			org.Net.Partition(ipOf[a], ipOf[b], true)
			heals = append(heals, heal{f.At + f.For, func() { org.Net.Partition(ipOf[a], ipOf[b], false) }})
		case "refuse":
			org.Net.Refuse(ipOf[f.Target], 1+r.IntN(5))
		case "mailbox-failover":
			// The database comes back from a copy f.For behind; the
			// operator has every server redeliver from its dumpster.
			// It is noticed and acted on a minute later; mail
			// delivered meanwhile is in the new copy.
			since := time.Now().Add(-f.For)
			org.Mbx[f.Target].FailOver(since)
			db, reqID := f.Target, fmt.Sprintf("failover-%d", f.At)
			heals = append(heals, heal{f.At + time.Minute, func() {
				for _, n := range org.Nodes {
					redeliver := func() {
						if err := n.Redeliver(reqID, db, since); err != nil {
							panic(err)
						}
					}
					if n.up {
						redeliver()
					} else { // the operator asks again when it is back
						n.afterStart = append(n.afterStart, redeliver)
					}
				}
			}})
		}
	}
	healDue(1 << 62)
	wg.Wait()
	// Let the organisation settle: retries, takeovers, expiry.
	for range 60 {
		time.Sleep(20 * time.Second)
		if settled(org, acked) {
			break
		}
	}
	time.Sleep(30 * time.Second) // late duplicates show up too
	org.Close()
	out.MaxAckWait = org.MaxAckWait()
	out.Dials = map[string]int{}
	for a, ia := range ipOf {
		for b, ib := range ipOf {
			if k := org.Net.DialsBetween(ia, ib); k > 0 {
				out.Dials[a+">"+b] = k
			}
		}
	}
	check(org, acked, &out)
	return out, nil
}

func sleepUntil(start time.Time, at time.Duration) {
	if d := time.Until(start.Add(at)); d > 0 {
		time.Sleep(d)
	}
}

func sinkFor(org *Org, rcpt string) *Sink {
	switch {
	case strings.HasSuffix(rcpt, "@a.test"):
		return org.Mbx["db-a"]
	case strings.HasSuffix(rcpt, "@b.test"):
		return org.Mbx["db-b"]
	}
	return org.Ext
}

func bounced(org *Org, a ack) (bool, string) {
	for _, s := range org.sinks() {
		if ok, st := s.bounced(a); ok {
			return true, st
		}
	}
	return false, ""
}

func (s *Sink) bounced(a ack) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.DSNs {
		if d.SimID != a.id {
			continue
		}
		for i, r := range d.Rcpts {
			if r == a.rcpt {
				return true, d.Status[i]
			}
		}
	}
	return false, ""
}

func settled(org *Org, acked []ack) bool {
	for _, a := range acked {
		if sinkFor(org, a.rcpt).count(a.id+" "+a.rcpt) == 0 {
			if ok, _ := bounced(org, a); !ok {
				return false
			}
		}
	}
	return true
}

func check(org *Org, acked []ack, out *Outcome) {
	// SMTP cannot take a 250 back: the destination outside may get a
	// message twice when the server relaying to it (b1) died between
	// the destination's 250 and its own commit or before its discard
	// reached the shadow server, or when a partition cut b1 off from a
	// shadow server for longer than the takeover delay.
	relayFault := false
	for _, f := range out.Faults {
		if f.Kind != "refuse" && strings.Contains(f.Target, "b1") {
			relayFault = true
		}
	}
	for _, s := range org.sinks() {
		s.mu.Lock()
		for _, d := range s.DSNs {
			if len(d.Other) > 0 {
				out.Unexplained++
				out.Problems = append(out.Problems, fmt.Sprintf("%s: a DSN nobody asked for: %v", d.SimID, d.Other))
			}
		}
		s.mu.Unlock()
	}
	for _, s := range org.Mbx {
		out.SuppressedAtMailbox += s.Suppressed
	}
	for _, a := range acked {
		out.Acked++
		s := sinkFor(org, a.rcpt)
		n := s.count(a.id + " " + a.rcpt)
		b, status := bounced(org, a)
		switch {
		case n == 1 && !b:
			out.Delivered++
		case n > 1 && s == org.Ext && relayFault && !b:
			out.Delivered++
			out.DupExternal++
		case n > 1:
			out.DupMailbox++
			out.Problems = append(out.Problems, fmt.Sprintf("%s to %s delivered %d times", a.id, a.rcpt, n))
		case n == 0 && b:
			out.Bounced++
			refused := strings.HasPrefix(a.rcpt, "refuse") && strings.HasPrefix(status, "5.1.")
			expired := strings.HasSuffix(status, ".4.7")
			if !refused && !expired {
				out.Unexplained++
				out.Problems = append(out.Problems, fmt.Sprintf("%s to %s bounced with status %q", a.id, a.rcpt, status))
			}
		case n == 1 && b:
			out.Unexplained++
			out.Problems = append(out.Problems, fmt.Sprintf("%s to %s delivered and bounced (%s)", a.id, a.rcpt, status))
		default:
			out.Lost++
			out.Problems = append(out.Problems, fmt.Sprintf("%s to %s lost", a.id, a.rcpt))
		}
	}
}
