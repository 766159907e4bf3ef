package config

import (
	"strings"
	"testing"
	"time"
)

func TestMilterConfig(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    milters:\n"
	c, err := Parse([]byte(base+"      - {name: rspamd, address: \"inet:127.0.0.1:11332\"}\n      - {name: dkim, address: \"unix:/run/opendkim.sock\", eom_timeout: 10s, on_failure: accept}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.ReceiveConnectors[0].Milters
	if m[0].ConnectTimeout.D() != 30*time.Second || m[0].CommandTimeout.D() != 30*time.Second || m[0].DataTimeout.D() != 5*time.Minute ||
		m[0].EOMTimeout.D() != 5*time.Minute || m[0].OnFailure != "tempfail" {
		t.Errorf("defaults: %+v", m[0])
	}
	if m[1].EOMTimeout.D() != 10*time.Second || m[1].OnFailure != "accept" {
		t.Errorf("set: %+v", m[1])
	}
	for line, want := range map[string]string{
		`      - {name: a, address: "127.0.0.1:11332"}`:                                                      `m.yaml:6: milter "a": address: want inet:HOST:PORT or unix:/path`,
		`      - {name: a, address: "unix:milter.sock"}`:                                                     `m.yaml:6: milter "a": address: unix socket path "milter.sock" is not absolute`,
		`      - {name: a, address: "inet:127.0.0.1"}`:                                                       `m.yaml:6: milter "a": address: want inet:HOST:PORT`,
		`      - {name: a, address: "inet:127.0.0.1:0"}`:                                                     `m.yaml:6: milter "a": address: "inet:127.0.0.1:0": bad port "0": a port to connect to is 1 to 65535`,
		`      - {address: "inet:127.0.0.1:1"}`:                                                              `m.yaml:6: milter needs a name`,
		`      - {name: a, address: "inet:127.0.0.1:1", on_failure: reject}`:                                 `m.yaml:6: milter "a": on_failure "reject": want tempfail or accept`,
		`      - {name: a, address: "inet:127.0.0.1:1", command_timeout: -1s}`:                               `m.yaml:6: receive_connectors[0].milters[0].command_timeout: negative duration`,
		`      - {name: a, address: "inet:127.0.0.1:1", eom_timout: 1s}`:                                     `m.yaml:6`,
		"      - {name: a, address: \"inet:127.0.0.1:1\"}\n      - {name: a, address: \"inet:127.0.0.1:2\"}": `m.yaml:7: milter "a" is defined twice`,
	} {
		_, err := Parse([]byte(base+line+"\n"), "m.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n%v\nwant %s", line, err, want)
		}
	}
}
