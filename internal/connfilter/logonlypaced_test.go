package connfilter_test

import (
	"strings"
	"testing"
)

// OPS-4 (front48 item 2): a HELO check whose action is log refuses
// nothing, and what it logs goes through the session's rate-limited
// refusal log, with its reason and the codes of the reply it would have
// given: thirty greetings of one client write the bucket's lines, not
// thirty. So does a DNS blocklist whose action is log, at connect.
func TestLogOnlyChecksGoThroughTheRefusalLog(t *testing.T) {
	records := []string{
		"5.0.0.127.in-addr.arpa. 60 IN PTR liar.client.test.",
		"liar.client.test. 60 IN A 192.0.2.5",
		"exists.test. 60 IN A 192.0.2.9",
		"5.0.0.127.zen.test. 60 IN A 127.0.0.2",
	}
	e := start(t, `    connection_filtering:
      dnsbl:
        action: log
        lists: [{zone: zen.test}]
      helo:
        fcrdns: log
`, records...)
	for i := 0; i < 30; i++ {
		s := e.dial("127.0.0.5")
		s.cmd("EHLO exists.test", "250")
		s.cmd("QUIT", "221")
	}
	log := e.log.String()
	for _, c := range []struct{ what, want string }{
		{"HELO", "reason=helo_fcrdns code=550 enhanced_code=5.7.25 stage=helo check=fcrdns result=fail"},
		{"DNS list", "reason=dnsbl_listed code=554 enhanced_code=5.7.1 stage=connect"},
	} {
		n := strings.Count(log, c.want)
		if n == 0 || n >= 30 {
			t.Errorf("%s log-only lines with %q: %d for 30 connections, want some and fewer (the refusal log's burst)\n%s", c.what, c.want, n, log)
		}
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "(log only)") && !strings.Contains(l, "client_ip=127.0.0.5") {
			t.Errorf("a log-only line without the client's address: %s", l)
		}
		// The session's logger names the client and the connector: the
		// line says each once (a key twice is two fields of one name in
		// a JSON log).
		if strings.Contains(l, "(log only)") && (strings.Count(l, " connector=") != 1 || strings.Count(l, " client_ip=") != 1) {
			t.Errorf("a log-only line naming the connector or the client twice: %s", l)
		}
	}
	if strings.Contains(log, "level=WARN") {
		t.Errorf("a WARN line:\n%s", log)
	}
}
