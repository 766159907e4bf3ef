package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// The admin API's since_ago and the CLI's --since read a duration by
// one rule (dumpster.ParseAgo): days are a unit, and a duration longer
// than 292 years is every copy, however it is written (fixh19 item 2:
// the API answered 400 to "1d", and the CLI refused "2562048h" while
// "99999999d" was every copy).
func TestSinceAgoOneRuleForAPIAndCLI(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, ago := range []string{"1d", "36500d", "106751d", "2562048h", "1d12h"} {
		resp, err := hc.Post("http://umbra/v1/dumpster/local/redeliver?request_id=api-"+ago+"&since_ago="+ago, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("redeliver since_ago=%s: status %d %s, want 200", ago, resp.StatusCode, b)
		}
	}
	for _, ago := range []string{"0s", "0d", "-1h", "1x"} {
		resp, err := hc.Post("http://umbra/v1/dumpster/local/redeliver?request_id=api-bad&since_ago="+ago, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("redeliver since_ago=%s: status %d, want 400", ago, resp.StatusCode)
		}
	}
	for _, since := range []string{"2562048h", "9999999999h", "99999999d"} {
		out, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", since, "--request-id", "cli-"+since)
		if code != 0 || !strings.Contains(out, "0001-01-01T00:00:00Z") {
			t.Errorf("resubmit --since %s: exit %d, want 0, every copy\n%s%s", since, code, out, errOut)
		}
	}
}

// The window start a resubmit prints names the stored instant exactly
// (RFC 3339 with its fraction), in text and --json, so that a retry
// naming it is the same request (fixh19 item 3: whole seconds were
// printed, and a retry with them was "already used for another
// redelivery").
func TestResubmitPrintsItsWindowStartExactly(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "rr1")
	_, rest, ok := strings.Cut(out, " since ")
	since, _, ok2 := strings.Cut(rest, ": ")
	if code != 0 || !ok || !ok2 {
		t.Fatalf("resubmit: exit %d %q", code, out)
	}
	out, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", since, "--request-id", "rr1")
	if code != 0 || !strings.Contains(out, "already carried out") {
		t.Errorf("retry with the printed start %s: exit %d, want the same request\n%s%s", since, code, out, errOut)
	}
	out, code = cli(t, cfg, "--json", "dumpster", "resubmit", "--database", "local", "--since", "2h", "--request-id", "rr2")
	var v struct {
		Since string `json:"since"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Since == "" {
		t.Fatalf("resubmit --json: exit %d %q", code, out)
	}
	out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", v.Since, "--request-id", "rr2")
	if code != 0 || !strings.Contains(out, "already carried out") {
		t.Errorf("retry with the --json start %s: exit %d, want the same request\n%s%s", v.Since, code, out, errOut)
	}
}
