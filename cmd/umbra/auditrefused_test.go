package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/tracking"
)

// rt24c F15: a refused queue action is audited as a refused message
// action is: a redirect to a target the API refuses, a queue that does
// not exist, the poison queue, an unknown action; over the socket, and
// by the web console's user (the console calls the same handler in
// process, naming its user). OPS- (every action audited).
func TestRefusedQueueActionsAreAudited(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: smarthost:sink holds the message
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader("From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	sock := filepath.Join(dir, "data", "admin.sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	post := func(path string, want int) {
		t.Helper()
		resp, err := hc.Post("http://umbra"+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d", path, resp.Status, want)
		}
	}
	post("/v1/messages/0123456789ABCDEF/suspend", http.StatusNotFound) // audited before this change too
	post("/v1/queues/smarthost:sink/redirect?to=relay.example:007", http.StatusBadRequest)
	post("/v1/queues/nosuch/suspend", http.StatusNotFound)
	post("/v1/queues/poison/suspend", http.StatusUnprocessableEntity)
	post("/v1/queues/smarthost:sink/frobnicate", http.StatusNotFound)
	post("/v1/messages/notanid/suspend", http.StatusBadRequest)
	post("/v1/messages/0123456789ABCDEF/suspend?dry_run=true", http.StatusNotFound) // no action: not audited

	want := map[string]string{ // action -> queue
		"message suspend":                     "",
		"queue redirect to relay.example:007": "smarthost:sink",
		"queue suspend":                       "nosuch",
		"queue suspend ":                      "poison", // the second queue suspend
		"queue frobnicate":                    "smarthost:sink",
		"message suspend ":                    "", // the malformed id
	}
	var es []tracking.Entry
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := cli(t, cfg, "track", "--json", "--event", "admin", "--since", "1h")
		es = nil
		if code == 0 && json.Unmarshal([]byte(out), &es) == nil && len(es) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin lines: %d, want %d: %s", len(es), len(want), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(es) != len(want) {
		t.Fatalf("admin lines: %+v, want %d (a dry run is no action)", es, len(want))
	}
	got := map[string]bool{}
	for _, e := range es {
		if e.Reply == "ok" || e.Actor == "" || e.Actor == "unknown" {
			t.Errorf("line %+v: a refusal with its actor expected", e)
		}
		got[e.Action+"|"+e.Queue] = true
	}
	for action, q := range want {
		if !got[strings.TrimSpace(action)+"|"+q] {
			t.Errorf("no audit line for %q on %q: %+v", action, q, es)
		}
	}
	for _, e := range es {
		if e.Queue == "poison" && !strings.Contains(e.Reply, "poison") {
			t.Errorf("the poison queue's refusal: %q", e.Reply)
		}
		if e.Queue == "nosuch" && !strings.Contains(e.Reply, "nosuch") {
			t.Errorf("the unknown queue's refusal: %q", e.Reply)
		}
	}
}
