package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
)

// cliAll is cli with standard error too.
func cliAll(t *testing.T, cfg string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// The operator's dumpster commands over the real admin socket of a
// running daemon:
//   - "resubmit --since 1h" retried with the same request id (after a
//     timeout) answers the first run's outcome and resubmits nothing
//     more; the same id for another window is refused (exit 1) saying so;
//   - a request that skipped copies (their spool file is gone) exits 5,
//     and so does its retry, with the count and where the ids are;
//   - "remove" takes copies out for good, by id or by a filter (which
//     needs --yes; --dry-run lists), each audited without the content,
//     and a removed copy is not redelivered.
func TestCLIDumpsterResubmitRetryAndRemove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	const secret = "the-confidential-body-text"
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("Message-ID: <op-%d@example.org>\r\nSubject: copy %d\r\n\r\n%s %d", i, i, secret, i)
		if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	big := "Message-ID: <op-big@example.org>\r\nSubject: spooled\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789\r\n", 12000)
	if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, big); !strings.HasPrefix(r, "250") {
		t.Fatalf("big message: %q", r)
	}
	copies := func() map[string]dumpster.Entry {
		out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
		var es []dumpster.Entry
		if code != 0 || json.Unmarshal([]byte(out), &es) != nil {
			return nil
		}
		m := map[string]dumpster.Entry{}
		for _, e := range es {
			m[e.MessageID] = e
		}
		return m
	}
	waitCond(t, "four dumpster copies", 30*time.Second, func() bool { return len(copies()) == 4 })
	maildir := filepath.Join(dir, "data", "maildir", "example.test", "bob", "new")
	files := func() int { fs, _ := filepath.Glob(filepath.Join(maildir, "*")); return len(fs) }
	waitCond(t, "four messages in the mailbox", 30*time.Second, func() bool { return files() == 4 })
	// The big copy's spool file is lost: its copy cannot be resubmitted.
	spooled, _ := filepath.Glob(filepath.Join(dir, "data", "spool", "*"))
	if len(spooled) == 0 {
		t.Fatal("the big message is not spooled")
	}
	for _, f := range spooled {
		os.Remove(f)
	}
	os.RemoveAll(filepath.Dir(maildir)) // the mailbox database fails over to a copy that lost it all

	out, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "op-1")
	if code != exitSkipped || !strings.Contains(out, "resubmitted 3 messages") || !strings.Contains(errOut, "1 copy NOT resubmitted") ||
		!strings.Contains(errOut, "request_id=op-1") {
		t.Fatalf("resubmit with a copy skipped: exit %d, want %d\n%s%s", code, exitSkipped, out, errOut)
	}
	waitCond(t, "the three redelivered", 30*time.Second, func() bool { return files() == 3 })
	time.Sleep(1100 * time.Millisecond) // "1h" now ends a second later than at the first call
	out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "op-1")
	if code != exitSkipped || !strings.Contains(out, "already carried out; it had resubmitted 3 messages") || !strings.Contains(errOut, "1 copy NOT resubmitted") {
		t.Fatalf("the retry of --since 1h: exit %d, want %d and the first outcome\n%s%s", code, exitSkipped, out, errOut)
	}
	out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "2h", "--request-id", "op-1")
	if code != exitFailure || !strings.Contains(errOut, "request op-1 was for database local") || !strings.Contains(errOut, "2h0m0s before its start") {
		t.Fatalf("the same id for another window: exit %d, want %d naming both\n%s%s", code, exitFailure, out, errOut)
	}
	// Without --request-id the id made is printed first, so a retry can name it.
	if _, errOut, _ := cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1s"); !strings.Contains(errOut, "to retry this request, give --request-id cli-") {
		t.Errorf("no request id printed:\n%s", errOut)
	}
	// A typo of the database is refused before any request id is made
	// or advertised: one answer, no advice to retry (rt38 F5 g, rt45 F7).
	if _, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "lcoal", "--since", "1h"); code != exitNotFound ||
		strings.Contains(errOut, "retry") || !strings.Contains(errOut, `"lcoal"`) {
		t.Errorf("a refused request: exit %d\n%s", code, errOut)
	}
	time.Sleep(time.Second)
	if n := files(); n != 3 {
		t.Fatalf("%d messages in the mailbox after the retries, want 3", n)
	}

	// Removal. The resubmitted copies came back to the dumpster.
	waitCond(t, "three copies back in the dumpster", 30*time.Second, func() bool { return len(copies()) == 3 })
	cs := copies()
	one := cs["<op-1@example.org>"].QueueID
	if out, code := cli(t, cfg, "dumpster", "remove", one); code != 0 || !strings.Contains(out, "1 copy removed") || !strings.Contains(out, "<op-1@example.org>") {
		t.Fatalf("remove by id: exit %d\n%s", code, out)
	}
	// Not found: the answer says where a copy a redelivery took went (rt11 F5).
	if _, errOut, code := cliAll(t, cfg, "dumpster", "remove", one); code != exitNotFound || !strings.Contains(errOut, "umbra track --event resubmit") {
		t.Errorf("removing it again: exit %d, want %d\n%s", code, exitNotFound, errOut)
	}
	if _, errOut, code := cliAll(t, cfg, "dumpster", "remove", "--database", "local", "--message-id", "<op-2@example.org>"); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Errorf("a filter without --yes: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	if _, _, code := cliAll(t, cfg, "dumpster", "remove", "--yes"); code != exitUsage {
		t.Errorf("neither ids nor --database: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := cliAll(t, cfg, "dumpster", "remove", "--database", "nosuch", "--yes"); code != exitNotFound {
		t.Errorf("an unknown database: exit %d, want %d", code, exitNotFound)
	}
	if out, code := cli(t, cfg, "dumpster", "remove", "--database", "local", "--message-id", "<op-2@example.org>", "--dry-run"); code != 0 || !strings.Contains(out, "1 copy would be removed") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if n := len(copies()); n != 2 {
		t.Fatalf("%d copies after a dry run, want 2", n)
	}
	if out, code := cli(t, cfg, "dumpster", "remove", "--database", "local", "--message-id", "<op-2@example.org>", "--yes"); code != 0 || !strings.Contains(out, "1 copy removed") {
		t.Fatalf("remove by filter: exit %d\n%s", code, out)
	}
	if cs := copies(); len(cs) != 1 || cs["<op-3@example.org>"].QueueID == "" {
		t.Fatalf("left in the dumpster: %v", cs)
	}

	// Audited, with the envelope and without the content.
	out, code = cli(t, cfg, "track", "--event", "admin", "--json")
	// Two removals, and the removals the daemon refused above (OPS-5: a
	// refused action is audited, "refused: …"): the id removed already,
	// an unknown database. The CLI refuses a filter without --yes and
	// neither ids nor --database before it asks; a dry run is no action.
	if code != 0 || strings.Count(out, `"action": "dumpster remove"`) != 4 || !strings.Contains(out, `"reply": "refused: no dumpster database \"nosuch\"`) ||
		!strings.Contains(out, `"reply": "refused: no dumpster copy of `+one+`"`) ||
		!strings.Contains(out, "op-1@example.org") ||
		!strings.Contains(out, "op-2@example.org") || !strings.Contains(out, `"action": "dumpster resubmit"`) {
		t.Fatalf("audit lines (exit %d):\n%s", code, out)
	}
	logged, _ := os.ReadFile(d.log)
	if strings.Contains(out, secret) || strings.Contains(string(logged), secret) {
		t.Fatal("a message body reached the tracking log or the daemon's log")
	}

	// A removed copy is not redelivered.
	os.RemoveAll(filepath.Dir(maildir))
	out, code = cli(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "op-2")
	if code != 0 || !strings.Contains(out, "resubmitted 1 message") {
		t.Fatalf("resubmit after removal: exit %d\n%s", code, out)
	}
	waitCond(t, "the one redelivered", 30*time.Second, func() bool { return files() == 1 })
	time.Sleep(time.Second)
	if fs, _ := filepath.Glob(filepath.Join(maildir, "*")); len(fs) != 1 {
		t.Fatalf("%d messages redelivered, want only message 3", len(fs))
	} else if b, _ := os.ReadFile(fs[0]); !strings.Contains(string(b), "<op-3@example.org>") {
		t.Fatalf("redelivered:\n%s", b)
	}
}

// dumpster resubmit for a database that is neither configured (nor in
// the topology) nor has copies in the dumpster — a misspelling — is
// refused with the valid names, exit 3; before, it stored a request
// that matched nothing and exited 0. A configured database without
// copies is a request like any other (nothing to resubmit).
func TestCLIDumpsterResubmitUnknownDatabase(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	out, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "locl", "--since", "1h", "--request-id", "typo-1")
	if code != exitNotFound || !strings.Contains(errOut, `"locl"`) || !strings.Contains(errOut, "local") {
		t.Fatalf("resubmit for a misspelt database: exit %d, want %d naming it and the valid ones\n%s%s", code, exitNotFound, out, errOut)
	}
	// Without --request-id one precise answer (rt45 F7): not how to
	// retry a request, then that there is nothing to retry.
	out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "locl", "--since", "1h")
	if code != exitNotFound || !strings.Contains(errOut, `"locl"`) || !strings.Contains(errOut, "local") ||
		strings.Contains(errOut, "retry") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("resubmit for a misspelt database, no request id: exit %d, want %d with one answer\n%s%s", code, exitNotFound, out, errOut)
	}
	out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "empty-1")
	if code != 0 || !strings.Contains(out, "resubmitted 0 messages") {
		t.Fatalf("resubmit for the configured database without copies: exit %d\n%s%s", code, out, errOut)
	}
	// A window that cannot select a copy is refused, not stored as a
	// request that resubmitted nothing (rt51 F12): a time after the
	// request's start, or no time at all before it.
	for _, since := range []string{"2099-01-01T00:00:00Z", "0s", "0d", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)} {
		out, errOut, code = cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", since, "--request-id", "w-"+since)
		if code != exitUsage || !strings.Contains(errOut, "--since") {
			t.Errorf("resubmit --since %s: exit %d, want %d\n%s%s", since, code, exitUsage, out, errOut)
		}
	}
	// The same from the admin API itself.
	sock := filepath.Join(dir, "data", "admin.sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, q := range []string{"since_ago=0s", "since=2099-01-01T00:00:00Z"} {
		resp, err := hc.Post("http://umbra/v1/dumpster/local/redeliver?request_id=api-w&"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("redeliver %s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

// A configured mailbox database whose dumpster holds no copy (never
// filled, pruned, or emptied by remove) is a valid name for list and
// remove as it is for resubmit: it lists nothing (exit 0), and the
// summary shows it with 0 copies. A misspelt name still exits 3 naming
// the valid ones, the configured database among them.
func TestCLIDumpsterEmptyConfiguredDatabase(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, args := range [][]string{{"dumpster", "list", "--database", "local"}, {"dumpster", "remove", "--database", "local", "--yes"}} {
		out, errOut, code := cliAll(t, cfg, args...)
		if code != 0 {
			t.Errorf("%v for the configured database without copies: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"dumpster", "list", "--database", "locl"}, {"dumpster", "remove", "--database", "locl", "--yes"}} {
		out, errOut, code := cliAll(t, cfg, args...)
		if code != exitNotFound || !strings.Contains(errOut, `"locl"`) || !strings.Contains(errOut, "local") {
			t.Errorf("%v: exit %d, want %d naming it and the valid ones\n%s%s", args, code, exitNotFound, out, errOut)
		}
	}
	out, errOut, code := cliAll(t, cfg, "dumpster", "list")
	if code != 0 || !strings.Contains(out, "local") {
		t.Errorf("dumpster list: exit %d, want the configured database with 0 copies\n%s%s", code, out, errOut)
	}
}
