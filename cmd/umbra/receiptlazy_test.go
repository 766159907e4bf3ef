package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// discardQueries sums a daemon's final replies to XQUERYDISCARD over its
// connectors and classes (umbra_smtp_commands_total).
func discardQueries(t *testing.T, addr string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var n float64
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "umbra_smtp_commands_total{") || !strings.Contains(line, `command="XQUERYDISCARD"`) {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		n += f
	}
	return n
}

// SR-17 with shadow verbs version 14: no sender waits for the discard of
// a copy pushed on receipt (the 250 was given with the copy), so the
// server keeping the copies asks its primary lazily, about once a second
// (XQUERYDISCARD LAZY), instead of long-polling XQUERYDISCARD WAIT=,
// which the primary answered at each commit of its results (and which
// made those commits at once instead of riding along with the next).
// hub-a receives twenty messages, one each 100 ms, each copied on
// receipt to hub-b and delivered; hub-b's heartbeats are slow (300 s), so
// only its watch session asks. hub-b's copies still go within seconds
// of the deliveries, every message arrives once, and hub-a answered no
// more queries than about one a second (a long poll: one per result
// commit, twenty or more).
func TestShadowOnReceiptDiscardsAskedLazily(t *testing.T) {
	o := newReceiptHubs(t, "prefer-remote", true)
	slowHeartbeats(t, o.cfgB)
	metricsA := withMetrics(t, o.cfgA)
	sink := startRecorder(t, o.sink)
	startUmbra(t, o.cfgB, o.b)
	ha := startUmbra(t, o.cfgA, o.a)
	start := time.Now()
	var acked []string
	for i := 0; i < 20; i++ {
		acked = append(acked, sendMany(o.a, fmt.Sprintf("lazy%02d", i), 1, 1, nil)...)
		time.Sleep(100 * time.Millisecond)
	}
	if len(acked) != 20 {
		ha.dumpLog()
		t.Fatalf("%d of 20 acknowledged", len(acked))
	}
	waitArrived(t, sink, acked, ha)
	p := &shadowPair{}
	waitCond(t, "hub-b to drop its copies", 30*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })
	secs := time.Since(start).Seconds()
	queries := discardQueries(t, metricsA)
	if queries > secs+3 {
		t.Fatalf("hub-a answered %.0f discard queries in %.1f s: hub-b long-polls for copies on receipt nobody waits on", queries, secs)
	}
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	t.Logf("%.0f discard queries in %.1f s", queries, secs)
}
