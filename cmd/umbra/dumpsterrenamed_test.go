package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A message the reader moved or copied under a name of its own (an IMAP
// MOVE/COPY: a new base name in cur/, of the inbox or of a Maildir++
// folder) is still in the mailbox: a dumpster redelivery finds it by the
// org id in its header and writes no second copy (SR-11; README "Where
// the copies live"). It used to look by umbra's file name alone.
func TestDumpsterRedeliveryFindsRenamedCopy(t *testing.T) {
	for _, tc := range []struct{ name, to string }{
		{"inbox", "cur/1796317000.M5P7.mbx,S=400,W=410:2,S"},
		{"folder", ".Archive/cur/1796317001.M6P7.mbx,S=400,W=410:2,S"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
			cfg := relayConfig(t, dir, listen, sink)
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			msg := "Message-ID: <moved-" + tc.name + "@example.org>\r\nSubject: moved\r\n\r\nread and moved\r\n"
			if r := rawSend(t, listen, "s@example.org", []string{"alice@example.test"}, msg); !strings.HasPrefix(r, "250") {
				t.Fatalf("send: %q", r)
			}
			box := filepath.Join(dir, "data", "maildir", "example.test", "alice")
			all := func() []string {
				var out []string
				filepath.Walk(box, func(p string, fi os.FileInfo, err error) error {
					if err == nil && fi.Mode().IsRegular() && filepath.Base(filepath.Dir(p)) != "tmp" {
						out = append(out, p)
					}
					return nil
				})
				return out
			}
			waitCond(t, "the Maildir file", 30*time.Second, func() bool { return len(all()) == 1 })
			waitCond(t, "its dumpster copy", 30*time.Second, func() bool {
				out, _ := cli(t, cfg, "dumpster", "list", "--database", "local")
				return strings.Contains(out, "moved-"+tc.name)
			})
			to := filepath.Join(box, filepath.FromSlash(tc.to))
			os.MkdirAll(filepath.Dir(to), 0o700)
			if err := os.Rename(all()[0], to); err != nil {
				t.Fatal(err)
			}
			if out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "30s", "--request-id", "r4"); code != 0 ||
				!strings.Contains(out, "resubmitted 1 message") {
				t.Fatalf("resubmit: exit %d\n%s", code, out)
			}
			waitCond(t, "the redelivery suppressed as a duplicate", 30*time.Second, func() bool {
				out, _ := cli(t, cfg, "track", "--event", "duplicate-suppressed", "--json")
				return strings.Contains(out, "moved-"+tc.name)
			})
			if fs := all(); len(fs) != 1 {
				t.Fatalf("%d files in the mailbox after the redelivery, want the moved one alone: %v", len(fs), fs)
			}
		})
	}
}

// fixe19 item 3: a window from before any copy could be kept (1900, and
// 1650, whose nanoseconds since 1970 do not fit in 64 bits) is every
// copy, for resubmit, list and remove alike: stored so that it decodes
// (a restart finds no damaged request), the same request when retried.
func TestDumpsterWindowFarInThePast(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, "Message-ID: <far@example.org>\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	waitCond(t, "its dumpster copy", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "dumpster", "list", "--database", "local", "--since", "1650-06-01T00:00:00Z")
		return strings.Contains(out, "far@example.org")
	})
	// The first instant of year 1 too: the zero time, which the window's
	// readers took for no bound (every copy, every event).
	for _, until := range []string{"1900-01-01T00:00:00Z", "1650-06-01T00:00:00Z", "0001-01-01T00:00:00Z"} {
		if out, code := cli(t, cfg, "dumpster", "remove", "--database", "local", "--until", until, "--dry-run"); code != 0 || !strings.Contains(out, "0 copies would be removed") {
			t.Fatalf("remove --until %s: exit %d\n%s", until, code, out)
		}
		if out, code := cli(t, cfg, "track", "--json", "--recipient", "bob@example.test", "--until", until); code != 0 || strings.Contains(out, "far@example.org") {
			t.Fatalf("track --until %s: exit %d, want no event\n%s", until, code, out)
		}
	}
	if out, code := cli(t, cfg, "track", "--json", "--recipient", "bob@example.test", "--since", "0001-01-01T00:00:00Z"); code != 0 || !strings.Contains(out, "far@example.org") {
		t.Fatalf("track --since 0001-01-01T00:00:00Z: exit %d, want the message's events\n%s", code, out)
	}
	for _, c := range []struct{ id, since, want string }{
		{"far-1", "1900-01-01T00:00:00Z", "resubmitted 1 message"},
		{"far-1", "1900-01-01T00:00:00Z", "already carried out"},
		{"far-2", "1650-06-01T00:00:00Z", "resubmitted"},
	} {
		out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", c.since, "--request-id", c.id)
		if code != 0 || !strings.Contains(out, c.want) || strings.Contains(out, "2234") {
			t.Fatalf("resubmit %s --since %s: exit %d, want %q\n%s", c.id, c.since, code, c.want, out)
		}
	}
	d.kill()
	d = startUmbra(t, cfg, listen)
	if b, _ := os.ReadFile(cfg + ".log"); strings.Contains(string(b), "does not decode") {
		t.Fatalf("a stored request does not decode:\n%s", b)
	}
}

// fixe19 item 2, the crash argument: the first attempt of a message
// writes its Maildir file without searching the mailbox, so the attempt
// after a kill -9 between that write and the commit of its result must
// search it all: the reader moved the file into a folder with a flag
// meanwhile, and the repeat still finds it — one copy, kept in the
// dumpster (queue markRepeat → Message.Prior).
func TestRepeatAfterKillFindsCopyMovedToFolder(t *testing.T) {
	// The reader kept umbra's name (a flag added), or gave the file a
	// name of its own, as an IMAP MOVE does (rt19h F2: found then only
	// by the org id in its header).
	for _, c := range []struct{ name, to string }{
		{"flagged", ".Archive/cur/NAME:2,FS"},
		{"renamed", ".Archive/cur/1764790000.M9P9.imapmoved:2,S"},
		{"renamed in the inbox", "cur/1764790001.M1P1.imapmoved:2,S"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
			cfg := relayConfig(t, dir, listen, sink)
			withResultCommitDelay(t, cfg, "1m")
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, "Message-ID: <moved-repeat@example.org>\r\n\r\nonce\r\n"); !strings.HasPrefix(r, "250") {
				t.Fatalf("send: %q", r)
			}
			box := filepath.Join(dir, "data", "maildir", "example.test", "bob")
			var file string
			waitCond(t, "the Maildir file", 30*time.Second, func() bool {
				fs, _ := filepath.Glob(filepath.Join(box, "new", "*"))
				if len(fs) == 1 {
					file = fs[0]
				}
				return len(fs) == 1
			})
			d.kill() // the file is written, its result is not committed
			moved := filepath.Join(box, strings.ReplaceAll(c.to, "NAME", filepath.Base(file)))
			os.MkdirAll(filepath.Dir(moved), 0o700)
			if err := os.Rename(file, moved); err != nil {
				t.Fatal(err)
			}
			d = startUmbra(t, cfg, listen)
			waitCond(t, "the repeat suppressed as a duplicate", 30*time.Second, func() bool {
				cli(t, cfg, "dumpster", "list") // an operator's request commits the waiting results
				out, _ := cli(t, cfg, "track", "--event", "duplicate-suppressed", "--json")
				return strings.Contains(out, "moved-repeat@example.org")
			})
			if fs, _ := filepath.Glob(filepath.Join(box, "new", "*")); len(fs) != 0 {
				t.Fatalf("the repeat wrote a second copy: %v", fs)
			}
		})
	}
}
