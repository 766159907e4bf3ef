package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every config check warning names its file and the line of the value it
// is about, as errors do (OPS-, rt16d F3); a server.name that is an IP
// address is no domain to greet next hops with (EHLO 127.0.0.34) and is
// refused at its line.
func TestConfigCheckWarningsHaveLines(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, listen) // the smart host is this server (line 23)
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    mx_address_limit: 3\n")
	out, _ := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	for _, want := range []string{
		cfg + `:23: warning: send connector sink: smart host ` + listen + ` is an address this server listens on`,
		cfg + `:25: warning: send connector "sink": mx_address_limit and mx_session_limit bound MX hosts only`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	editConfig(t, cfg, "bindings: [\""+listen+"\"]", `bindings: ["127.0.0.1:0"]`)
	editConfig(t, cfg, "name: hub.e2e.test", "name: localhost")
	out, _ = exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	for _, want := range []string{
		cfg + `:14: warning: receive connector "loopback": binding "127.0.0.1:0" listens on a port the kernel picks`,
		cfg + `:2: warning: server.name "localhost" is not a fully qualified domain name`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "warning:") && !strings.HasPrefix(l, cfg+":") {
			t.Errorf("a warning without its file and line: %q", l)
		}
	}
	for _, name := range []string{"127.0.0.34", "127.0.0.34.", "10.1", "::1"} {
		editConfig(t, cfg, "name: localhost", "name: \""+name+"\"")
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if err == nil || !strings.Contains(string(out), cfg+`:2: server.name "`+name+`" is an IP address`) {
			t.Errorf("server.name %q: %v\n%s", name, err, out)
		}
		editConfig(t, cfg, "name: \""+name+"\"", "name: localhost")
	}
}
