package main

import (
	"os/exec"
	"strings"
	"testing"
)

// config check names the slips that load but cannot be what was meant
// (rt51 F8): a binding on port 0 listens where the kernel chooses, a
// different port at every start; a server name that is no fully
// qualified domain name goes into the banner, EHLO, Received fields and
// DSNs. A delay of the acknowledgement past what a sender waits for the
// reply to its data is refused at its line.
func TestConfigCheckNamesSlips(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("the plain configuration: %v\n%s", err, out)
	}
	editConfig(t, cfg, listen, "127.0.0.1:0")
	editConfig(t, cfg, "name: hub.e2e.test", "name: localhost")
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `warning: receive connector "loopback": binding "127.0.0.1:0" listens on a port the kernel picks`) ||
		!strings.Contains(string(out), `warning: server.name "localhost" is not a fully qualified domain name`) {
		t.Errorf("port 0 and localhost: %v\n%s", err, out)
	}
	editConfig(t, cfg, "max_acknowledgement_delay: 0s", "max_acknowledgement_delay: 30d")
	out, err = exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "umbra.yaml:19:") || !strings.Contains(string(out), "max_acknowledgement_delay") {
		t.Errorf("max_acknowledgement_delay: 30d: %v\n%s", err, out)
	}
}
