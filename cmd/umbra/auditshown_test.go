package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/tracking"
)

// The audit line of a refused dumpster resubmit names the unknown
// database once by the one rule, in its queue and in its result alike:
// the byte 0xe9 as \xe9, the text \xe9 as \\xe9 (the result was the
// refusal's text, written by the rule already and then escaped again by
// the tracking log, so the byte read as the text there).
func TestAuditNamesUnknownDumpsterDatabaseOnce(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	want := map[string]string{"d\xe9": `d\xe9`, `d\xe9`: `d\\xe9`}
	// The CLI looks the database up before it asks (exit 3 with the
	// valid names, no request, nothing audited); a client of the admin
	// API that asks anyway is refused and audited, so the request goes
	// to the socket itself.
	sock := filepath.Join(dir, "data", "admin.sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for db := range want {
		if _, _, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", db, "--since", "1h"); code != exitNotFound {
			t.Fatalf("resubmit --database %q: exit %d, want %d", db, code, exitNotFound)
		}
		u := "http://umbra/v1/dumpster/" + url.PathEscape(db) + "/redeliver?since_ago=1h&request_id=r1"
		resp, err := hc.Post(u, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST %s: %s, want 404", u, resp.Status)
		}
	}
	out, code := cli(t, cfg, "track", "--json", "--event", "admin", "--since", "1h")
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); code != 0 || err != nil {
		t.Fatalf("track: exit %d %v\n%s", code, err, out)
	}
	seen := 0
	for _, e := range es {
		if !strings.HasPrefix(e.Action, "dumpster ") {
			continue
		}
		seen++
		name := strings.TrimPrefix(e.Queue, "dumpster:")
		if name != want["d\xe9"] && name != want[`d\xe9`] {
			t.Errorf("%s: queue %q", e.Action, e.Queue)
		}
		if !strings.Contains(e.Reply, `"`+name+`"`) {
			t.Errorf("%s: queue %q, result %q: the name reads otherwise in the result", e.Action, e.Queue, e.Reply)
		}
	}
	if seen != 2 {
		t.Errorf("%d dumpster audit lines, want 2:\n%s", seen, out)
	}
}
