package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"umbra/internal/jsonsafe"

	gosmtp "github.com/emersion/go-smtp"
)

func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode ✓": "plain text, ünïcode ✓",
		"csi \u009b31m":         `csi \u009b31m`,
		"esc \x1b[2J":           `esc \u001b[2J`,
		"nel \u0085 end":        `nel \u0085 end`,
		"bidi \u202e gnp.exe":   `bidi \u202e gnp.exe`,
		"raw \x9b byte":         `raw \x9b byte`,
		"tab\tand\nnewline\rcr": `tab\tand\nnewline\rcr`,
		"tag \U000E0041":        `tag \udb40\udc41`,
		"back\\slash":           "back\\slash",
		// The text of an escape reads apart from the escape: a run
		// of backslashes before what reads as one (u and four hex
		// digits, t, n, r, or a character shown escaped) is doubled.
		`text \u001b`:   `text \\u001b`,
		`text \t \n \r`: `text \\t \\n \\r`,
		"one \\\x1b":    `one \\\u001b`,
		`two \\u001b`:   `two \\\\u001b`,
		`x \xe9 kept`:   `x \xe9 kept`, // the rule upstream doubled \xNN already
		`path C:\dir\a`: `path C:\dir\a`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
	// Different values never read alike.
	seen := map[string]string{}
	for _, in := range []string{"a\x1b", `a\u001b`, `a\\u001b`, "a\\\x1b", "a\t", `a\t`, `a\\t`, "a\\\t", "a\u0085", `a\u0085`} {
		out := termSafe(in)
		if prev, ok := seen[out]; ok {
			t.Errorf("%q and %q both read %q", prev, in, out)
		}
		seen[out] = in
	}
	if got := trunc("aé\u009bxyz", 5); !utf8.ValidString(got) {
		t.Errorf("trunc cut a character: %q", got)
	}
}

// The writer every command prints through escapes what a terminal would
// act on, keeps tab and newline (the tables' own), holds a character cut
// between writes, and leaves JSON valid with the same values.
func TestTermWriter(t *testing.T) {
	var out bytes.Buffer
	w := newTermWriter(&out)
	in := "a\tb\n\u009b[31m é\x1b"
	for i := 0; i < len(in); i++ { // byte by byte: every character cut
		w.Write([]byte{in[i]})
	}
	w.Flush()
	if got, want := out.String(), "a\tb\n\\u009b[31m é\\u001b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	out.Reset()
	v := map[string]string{"reply": "451 \u009b31m \u202e \U000E0041 \x1b[2J end", "tab": "a\tb"}
	printJSON(w, v)
	w.Flush()
	for _, c := range out.String() {
		if c >= 0x80 && c <= 0x9f || c == 0x1b || c == 0x202e {
			t.Fatalf("JSON output carries %U raw: %s", c, out.String())
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back["reply"] != v["reply"] || back["tab"] != v["tab"] {
		t.Errorf("JSON changed: %v %q", err, back)
	}
}

// rt20 N2: text that came with a message — its Subject, its sender, a
// next hop's reply — reaches the operator's terminal escaped, by track,
// message list and message show, as the daemon's log escapes it; --json
// stays valid JSON.
func TestCLIEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	// A next hop whose greeting carries C1, ESC and a bidi override.
	hop, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hop.Close()
	go func() {
		for {
			c, err := hop.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("421 4.3.2 busy \xc2\x9b31m\x1b[2J\xe2\x80\xae end\r\n"))
			c.Close()
		}
	}()
	cfg := relayConfig(t, dir, listen, hop.Addr().String())
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	subject := "Subject: =?utf-8?q?x=C2=9B31m=1B[2J_y?=\r\n\r\nhi\r\n"
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(subject)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	var id string
	waitCond(t, "the deferral", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []struct {
			ID         string `json:"id"`
			Recipients []struct {
				LastReply string `json:"last_reply"`
			} `json:"recipients"`
		}
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || len(ms[0].Recipients) != 1 || !strings.Contains(ms[0].Recipients[0].LastReply, "end") {
			return false
		}
		id = ms[0].ID
		return true
	})
	raw := func(what, out string) {
		t.Helper()
		for _, c := range out {
			if c >= 0x80 && c <= 0x9f || c == 0x1b || c == 0x202e || c == utf8.RuneError {
				t.Errorf("%s prints %U raw:\n%q", what, c, out)
				return
			}
		}
	}
	for _, args := range [][]string{{"message", "list"}, {"message", "show", id}, {"message", "list", "--json"}, {"message", "show", "--json", id},
		{"track", "--message-id", id}, {"track", "--json", "--message-id", id}, {"queue", "list"}, {"queue", "destinations"}} {
		out, code := cli(t, cfg, args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		raw(strings.Join(args, " "), out)
		if strings.Contains(strings.Join(args, " "), "--json") && !json.Valid([]byte(out)) {
			t.Errorf("%v: not valid JSON:\n%s", args, out)
		}
	}
	if out, _ := cli(t, cfg, "message", "show", id); !strings.Contains(out, `\u009b31m\u001b[2J`) {
		t.Errorf("message show does not show the escapes:\n%s", out)
	}
}

// The refusal on standard error names an operator's value apart from
// the text of an escape: a control character given is written as its
// byte (ESC reads \x1b, a tab \x09: a name never splits the refusal,
// rt47 F3), the text \u001b reads \\u001b, the text \t reads \\t.
func TestRefusalTextReadsApartFromEscape(t *testing.T) {
	sock := t.TempDir() + "/none.sock"
	want := map[string]string{"x\x1b": `"x\x1b"`, `x\u001b`: `"x\\u001b"`, "x\t": `"x\x09"`, `x\t`: `"x\\t"`}
	for v, w := range want {
		out, _ := exec.Command(umbraBin, "--socket", sock, "message", "list", "--state", v).CombinedOutput()
		if !strings.Contains(string(out), "no state "+w+";") {
			t.Errorf("--state %q: %q, want it named %s", v, out, w)
		}
	}
}

// What a table shows reads back as the value (jsonsafe.FromShown, which
// umbra track and every filter apply): the value as the admin API gives
// it (jsonsafe.TextBytes applied) for any text, escapes and backslash
// runs included.
func FuzzTermSafeReadsBack(f *testing.F) {
	for _, s := range []string{"a\x1b", `a\u001b`, `a\\u001b`, "a\\\x1b", "a\t", `a\t`, "a\\\t", "\U000E0041", `\udb40\udc41`,
		`\ud800`, `\u0041`, `\xe9`, "\xe9", `\`, `\\`, "\\\r\n", `C:\new\table`, "\u009b\\\u0085", `\u00` + "\x1b41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := jsonsafe.TextBytes(s)
		if got, _ := jsonsafe.FromShown(termSafe(v)); got != v {
			t.Fatalf("%q shows %q, which reads back as %q", v, termSafe(v), got)
		}
	})
}
