package smtp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Version 20 (W-2, SR-7, SR-17): a client that says NAME at XSHADOW
// gets this server's own name (server.name) at the end of the 250 reply,
// after the mark; a session that did not say it — every client of 19
// and below — gets the replies of 19 byte for byte; the client of 20
// says it and reads the stated name (Client.ShadowName).
func TestShadowVerbsStatedNameVersion20(t *testing.T) {
	sh := &delayNoteShadow{heldNoteShadow: &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{
		handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}}, dropped: map[string][]string{}}}}},
		delayed: map[string][]string{}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	db := sh.DatabaseID()
	session := func() *dialog {
		d := dial(t, s, "")
		d.expect("220")
		if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 20") {
			t.Fatalf("XSHADOW 20 not advertised:\n%s", ehlo)
		}
		d.cmd(authHub2, "235")
		return d
	}
	for _, c := range []struct{ x, want string }{
		// Without NAME: version 19's replies.
		{"XSHADOW hub2", "250 " + db},
		{"XSHADOW hub2 MARK", "250 " + db + " MARK=1"},
		{"XSHADOW hub2 CODES", "250 2.0.0 " + db},
		{"XSHADOW hub2 MARK CODES", "250 2.0.0 " + db + " MARK=1"},
		// NAME: the name last.
		{"XSHADOW hub2 NAME", "250 " + db + " NAME=mx.test"},
		{"XSHADOW hub2 MARK name", "250 " + db + " MARK=1 NAME=mx.test"},
		{"XSHADOW hub2 CODES NAME", "250 2.0.0 " + db + " NAME=mx.test"},
		{"XSHADOW hub2 MARK CODES NAME", "250 2.0.0 " + db + " MARK=1 NAME=mx.test"},
	} {
		d := session()
		if got := d.cmd(c.x, "250"); got != c.want {
			t.Errorf("%s answered %q, want %q", c.x, got, c.want)
		}
		d.cmd("QUIT", "221")
	}
	d := session()
	d.cmd("XSHADOW hub2 NAME CODES", "501 5.5.4") // NAME is the last word
	d.cmd("XSHADOW hub2 NAME NAME", "501 5.5.4")
	d.cmd("XSHADOW hub2 NAME=hub2", "501 5.5.4")
	d.cmd("QUIT", "221")
	d = session()
	d.cmd("XSHADOW hub3 NAME", "550 5.7.1") // a refusal states nothing
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	got, err := c.Shadow("hub2")
	if err != nil || got != db {
		t.Fatalf("Shadow: %q, %v; want %q", got, err, db)
	}
	if c.ShadowVersion != NameVersion || c.ShadowName != "mx.test" {
		t.Fatalf("client speaks version %d, stated name %q; want %d, mx.test", c.ShadowVersion, c.ShadowName, NameVersion)
	}
}

// A server of version 19 is never sent NAME (it would answer 501 5.5.4)
// and states no name; one of 20 whose reply carries a NAME= that is no
// server name is a malformed reply, not a name.
func TestClientSaysNameOnlyToVersion20(t *testing.T) {
	for _, c := range []struct {
		version, reply string
		wantCmd        string
		name           string
		bad            bool
	}{
		{"19", "250 2.0.0 db19 MARK=3", "XSHADOW hub2 MARK CODES", "", false},
		{"20", "250 2.0.0 db20 MARK=3 NAME=hub-b.example", "XSHADOW hub2 MARK CODES NAME", "hub-b.example", false},
		{"20", "250 2.0.0 db20 MARK=3", "XSHADOW hub2 MARK CODES NAME", "", false},
		{"20", "250 2.0.0 db20 MARK=3 NAME=", "XSHADOW hub2 MARK CODES NAME", "", true},
		{"21", "250 2.0.0 db21 MARK=3 name=hub-c", "XSHADOW hub2 MARK CODES NAME", "hub-c", false},
	} {
		cmd, cl := scriptedShadowPeer(t, c.version, c.reply)
		_, err := cl.Shadow("hub2")
		if got := <-cmd; got != c.wantCmd {
			t.Errorf("to a server of %s: sent %q, want %q", c.version, got, c.wantCmd)
		}
		if c.bad {
			if err == nil {
				t.Errorf("reply %q read as a name %q", c.reply, cl.ShadowName)
			}
			continue
		}
		if err != nil || cl.ShadowName != c.name {
			t.Errorf("reply %q: name %q, %v; want %q", c.reply, cl.ShadowName, err, c.name)
		}
	}
}

// scriptedShadowPeer is a server that advertises XSHADOW version and
// answers any XSHADOW with reply; the command it got comes on cmd.
func scriptedShadowPeer(t *testing.T, version, reply string) (<-chan string, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cmd := make(chan string, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(nc)
		nc.Write([]byte("220 peer.test ESMTP\r\n"))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			switch {
			case strings.HasPrefix(l, "EHLO"):
				nc.Write([]byte("250-peer.test\r\n250 XSHADOW " + version + "\r\n"))
			case strings.HasPrefix(l, "XSHADOW"):
				cmd <- l
				nc.Write([]byte(reply + "\r\n"))
			default:
				nc.Write([]byte("221 bye\r\n"))
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return cmd, c
}

// CutStatedName reads the last word NAME=<server-name> only; any other
// text comes back as it is.
func TestCutStatedName(t *testing.T) {
	for _, c := range []struct {
		in, rest, name string
		ok             bool
	}{
		{"db1", "db1", "", true},
		{"db1 MARK=2", "db1 MARK=2", "", true},
		{"db1 MARK=2 NAME=hub-b", "db1 MARK=2", "hub-b", true},
		{"db1 name=Hub-B.", "db1", "Hub-B.", true},
		{"db1 NAME=hub-b  ", "db1", "hub-b", true},
		{"db1\tNAME=hub-b", "db1", "hub-b", true},
		{"NAME=hub-b", "", "hub-b", true},
		{"db1 NAME=", "db1 NAME=", "", false},
		{"db1 NAME=a=b", "db1 NAME=a=b", "", false},
		{"db1 NAME=h\x7fb", "db1 NAME=h\x7fb", "", false},
		{"db1 NAME=" + strings.Repeat("x", 256), "db1 NAME=" + strings.Repeat("x", 256), "", false},
		{"db1 NAMES=x", "db1 NAMES=x", "", true},
		{"", "", "", true},
	} {
		rest, name, ok := CutStatedName(c.in)
		if rest != c.rest || name != c.name || ok != c.ok {
			t.Errorf("CutStatedName(%q) = %q, %q, %v; want %q, %q, %v", c.in, rest, name, ok, c.rest, c.name, c.ok)
		}
	}
}

// FuzzCutStatedName: never a panic; a name read is a valid one and the
// text is the rest followed by it; no name read leaves the text as it
// was.
func FuzzCutStatedName(f *testing.F) {
	for _, s := range []string{"db1", "db1 MARK=2 NAME=hub-b", "NAME=", "db NAME=a=b", " NAME=x ", "\tname=Y\t", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rest, name, ok := CutStatedName(in)
		switch {
		case name != "":
			if !ok || !ValidStatedName(name) {
				t.Fatalf("%q: name %q (ok %v) is no valid name", in, name, ok)
			}
			if !strings.HasPrefix(in, rest) || !strings.Contains(in[len(rest):], name) {
				t.Fatalf("%q: rest %q and name %q are not the text", in, rest, name)
			}
		case rest != in:
			t.Fatalf("%q: no name, but the text changed to %q", in, rest)
		}
	})
}

// FuzzXShadowNameArgs (SMTP- shadow verbs 20): XSHADOW's arguments at a
// server of version 20 — never a panic; NAME is read only as the last
// word, and only one is taken off: what is left ending in a second NAME
// ("NAME NAME") is not read as mark arguments, so xshadow answers it
// 501; at a server of 19 NAME is never read.
func FuzzXShadowNameArgs(f *testing.F) {
	for _, s := range []string{"", "NAME", "MARK NAME", "MARK CODES NAME", "MARK=1 DB=x CODES name", "NAME NAME", "NAME CODES", " NAME ", "NAME=x"} {
		f.Add(s)
	}
	v20 := &session{srv: &Server{shadow: &delayNoteShadow{heldNoteShadow: &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{
		handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}}, dropped: map[string][]string{}}}}},
		delayed: map[string][]string{}}, queue: &markQueue{mark: 1}}}
	if v := v20.shadowVersion(); v != NameVersion {
		f.Fatalf("the fuzzed session speaks %d, want %d", v, NameVersion)
	}
	v1 := &session{srv: &Server{shadow: &fakeShadow{}}}
	f.Fuzz(func(t *testing.T, args string) {
		rest, named := v20.cutName(args)
		if named {
			f := strings.Fields(args)
			if len(f) == 0 || !strings.EqualFold(f[len(f)-1], "NAME") {
				t.Fatalf("%q: NAME read, but it is not the last word", args)
			}
			if g := strings.Fields(rest); len(g) != len(f)-1 {
				t.Fatalf("%q: %q left, want every word but the last", args, rest)
			}
		} else if rest != args {
			t.Fatalf("%q: no NAME, but the arguments changed to %q", args, rest)
		}
		if r, n := v1.cutName(args); n || r != args {
			t.Fatalf("%q: a server below 20 read NAME", args)
		}
		rest, _ = v20.cutCodes(rest)
		_, _, _, _, ok := parseMarkArgs(rest)
		if g := strings.Fields(rest); ok && len(g) > 0 && strings.EqualFold(g[len(g)-1], "NAME") {
			t.Fatalf("%q: a second NAME left in %q is read as mark arguments, not refused with 501", args, rest)
		}
	})
}
