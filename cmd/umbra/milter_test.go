package main

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	gosmtp "github.com/emersion/go-smtp"
)

// tagMilter adds a header naming the milter and refuses one recipient.
type tagMilter struct {
	gomilter.NoOpMilter
	tag string
}

func (m *tagMilter) RcptTo(to, _ string, _ gomilter.Modifier) (*gomilter.Response, error) {
	if strings.HasPrefix(to, "blocked@") {
		return gomilter.RejectWithCodeAndReason(550, "5.7.1 Blocked by "+m.tag)
	}
	return gomilter.RespContinue, nil
}

func (m *tagMilter) EndOfMessage(mod gomilter.Modifier) (*gomilter.Response, error) {
	if err := mod.AddHeader("X-Milter", m.tag+" "+mod.Get("i")); err != nil {
		return nil, err
	}
	return gomilter.RespAccept, nil
}

func startTagMilter(t *testing.T, tag string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return &tagMilter{tag: tag} }),
		gomilter.WithActions(gomilter.OptAddHeader))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// The daemon asks the connector's milters from its configuration: a
// recipient the milter refuses gets its reply, a relayed message
// carries its header with umbra's queue id, and a reload that names
// another milter makes new sessions ask that one.
func TestMilterInDaemon(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	rec := startRecorder(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	orig, _ := os.ReadFile(cfg)
	withMilter := func(addr string) []byte {
		return []byte(strings.Replace(string(orig), "    max_acknowledgement_delay: 0s\n",
			"    max_acknowledgement_delay: 0s\n    milters:\n      - {name: tag, address: \"inet:"+addr+"\"}\n", 1))
	}
	os.WriteFile(cfg, withMilter(startTagMilter(t, "first")), 0o600)
	d := startUmbra(t, cfg, listen)

	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("blocked@remote.example", nil); err == nil || !strings.Contains(err.Error(), "Blocked by first") {
		t.Fatalf("refused recipient: %v", err)
	}
	c.Reset()
	c.Quit()
	if ok, err := send(listen, "through the milter"); !ok {
		t.Fatal(err)
	}

	waitBody := func(subject, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			rec.mu.Lock()
			body := rec.bodies[subject]
			rec.mu.Unlock()
			if body != "" {
				if !regexp.MustCompile(want).MatchString(body) {
					t.Fatalf("%q arrived without %q:\n%s", subject, want, body[:min(len(body), 600)])
				}
				return
			}
			if time.Now().After(deadline) {
				d.dumpLog()
				t.Fatalf("%q did not arrive", subject)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBody("through the milter", `\r\nX-Milter: first [0-9A-Za-z]+\r\n`) // umbra's queue id as $i

	os.WriteFile(cfg, withMilter(startTagMilter(t, "second")), 0o600)
	d.hup()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), "configuration reloaded") {
			break
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("not reloaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, err := send(listen, "after the reload"); !ok {
		t.Fatal(err)
	}
	waitBody("after the reload", `\r\nX-Milter: second [0-9A-Za-z]+\r\n`)
}

// EDGE "DNS done once": a milter named by host name (inet:name:port)
// is found through umbra's resolver — the dns section, its hosts_file
// first — as every other lookup is, not through the system's resolver,
// which knows nothing of a name only dns.hosts_file gives.
func TestMilterHostNameResolvedByTheServersResolver(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	startRecorder(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	orig, _ := os.ReadFile(cfg)
	_, port, _ := net.SplitHostPort(startTagMilter(t, "named"))
	hosts := dir + "/hosts"
	os.WriteFile(hosts, []byte("127.0.0.1 milter.umbra-only.test\n"), 0o600)
	conf := strings.Replace(string(orig), "    max_acknowledgement_delay: 0s\n",
		"    max_acknowledgement_delay: 0s\n    milters:\n      - {name: tag, address: \"inet:milter.umbra-only.test:"+port+"\"}\n", 1)
	conf += "dns: {hosts_file: \"" + hosts + "\"}\n"
	os.WriteFile(cfg, []byte(conf), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("blocked@remote.example", nil); err == nil || !strings.Contains(err.Error(), "Blocked by named") {
		t.Fatalf("the milter by name was not asked: %v", err)
	}
}
