package config

import (
	"strings"
	"testing"
)

// rdmine45: c25db0b6 gave a port past 65535 the range "0 to 65535"; an
// address umbra connects to (a milter's inet:, mailbox.lmtp, a topology
// server's) takes no port 0, and its port 0 is refused as "1 to 65535".
// Its port past the range says the same range, not one that offers 0.
func TestDialAddressPortPastRangeSaysOneTo65535(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    milters:\n"
	_, err := Parse([]byte(base+`      - {name: a, address: "inet:127.0.0.1:70000"}`+"\n"), "m.yaml")
	if err == nil || !strings.Contains(err.Error(), `bad port "70000": a port to connect to is 1 to 65535`) {
		t.Errorf("milter inet:127.0.0.1:70000: %v", err)
	}
	_, err = Parse([]byte("server: {name: a.example.test}\nmailbox:\n  lmtp: 127.0.0.1:99999\n"), "l.yaml")
	if err == nil || !strings.Contains(err.Error(), `bad port "99999": a port to connect to is 1 to 65535`) {
		t.Errorf("mailbox.lmtp 127.0.0.1:99999: %v", err)
	}
}
