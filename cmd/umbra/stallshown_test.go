package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// a message whose attempt is stalled — its next hop took the data
// and never answers the final dot, until data_timeout — showed nothing
// of it to the operator (its delay notice alone said "stopped answering
// during the message data"). message show names what the attempt waits
// on (the host, the step in the notice's words, since when), its --json
// and the admin API in waiting_on (added fields: the rest of the JSON as
// before), and queue list the queue's longest such wait.
func TestQ3StalledAttemptShownToOperator(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.170:9411"
	sink := hangSinkAt(t, "127.0.0.170:9412")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	if ok, err := send(listen, "stalled"); !ok {
		t.Fatalf("send: %v", err)
	}
	type stall struct {
		Host  string    `json:"host"`
		Step  string    `json:"step"`
		Since time.Time `json:"since"`
	}
	type view struct {
		ID         string `json:"id"`
		State      string `json:"state"`
		WaitingOn  *stall `json:"waiting_on"`
		Recipients []struct {
			Address   string `json:"address"`
			Status    string `json:"status"`
			WaitingOn *stall `json:"waiting_on"`
		} `json:"recipients"`
	}
	var m view
	waitCond(t, "the attempt waiting for the reply to the final dot", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var list []view
		json.Unmarshal([]byte(out), &list)
		if len(list) != 1 {
			return false
		}
		show, _ := cli(t, cfg, "message", "show", "--json", list[0].ID)
		m = view{}
		json.Unmarshal([]byte(show), &m)
		return m.WaitingOn != nil && m.WaitingOn.Step == "the message data"
	})
	_, port, _ := net.SplitHostPort(sink)
	if !strings.Contains(m.WaitingOn.Host, port) || m.WaitingOn.Since.IsZero() || time.Since(m.WaitingOn.Since) < 0 {
		t.Errorf("waiting_on %+v: want the sink %s, the message data, since a time past", m.WaitingOn, sink)
	}
	if len(m.Recipients) != 1 || m.Recipients[0].WaitingOn == nil || *m.Recipients[0].WaitingOn != *m.WaitingOn {
		t.Errorf("the recipient's waiting_on: %+v, want the message's %+v", m.Recipients, m.WaitingOn)
	}
	text, _ := cli(t, cfg, "message", "show", m.ID)
	if !strings.Contains(text, "waiting on: ") || !strings.Contains(text, port+", during the message data, no reply since ") {
		t.Errorf("message show does not say what the attempt waits on:\n%s", text)
	}
	ql, _ := cli(t, cfg, "queue", "list")
	if !strings.Contains(ql, "1 message in an attempt waiting on a host; the longest: ") || !strings.Contains(ql, port+", during the message data") {
		t.Errorf("queue list does not show the stalled attempt:\n%s", ql)
	}
	qj, _ := cli(t, cfg, "queue", "list", "--json")
	if !strings.Contains(qj, `"waiting_on"`) || !strings.Contains(qj, `"waiting_on_host": 1`) {
		t.Errorf("queue list --json has no waiting_on:\n%s", qj)
	}
	if t.Failed() {
		d.dumpLog()
	}
}
