package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver/dnstest"
)

// OPS-4 (umbra track -c FILE): whether FILE's tracking log is the one
// the daemon writes was judged by comparing the two paths as text: FILE
// naming the same log through a symbolic link (its directory spelled
// blink, blink -> data) made track say "FILE has tracking.path …, not in
// force yet (a restart applies it)", which no restart would change. The
// paths are compared by identity (samePlace), as a reload compares them.
func TestOPS4TrackConfigLinkSpellingIsInForce(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := opsAddr(t, "127.0.0.131"), opsAddr(t, "127.0.0.131")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if acked := sendMany(listen, "tracked", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("%d of 1 acknowledged", len(acked))
	}
	waitCond(t, "the receive event", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--event", "receive")
		return strings.Contains(out, "receive")
	})
	// The same log, named through a link to the data directory.
	blink := filepath.Join(dir, "blink")
	if err := os.Symlink(filepath.Join(dir, "data"), blink); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "mailbox:\n", "tracking: {path: "+filepath.Join(blink, "tracking.log")+"}\nmailbox:\n")
	out, code := cliCombined(t, cfg, "track", "--event", "receive")
	if code != 0 || !strings.Contains(out, "receive") || strings.Contains(out, "not in force yet") {
		t.Errorf("track --config naming the daemon's log through a link: exit %d\n%s\nwant its events and no note that the setting is not in force", code, out)
	}
}

// RT-11, OPS-3 (umbra route explain -c FILE): whether the daemon on
// FILE's admin socket runs FILE was judged by comparing the two names
// as text, so FILE given through a symbolic link to the file the daemon
// runs (/etc/umbra/hub.yaml -> /srv/umbra/hub.yaml) was taken for
// another file: the explanation was of the file as edited since, not
// of the routing the daemon does. It is judged by identity (samePlace):
// the daemon's configuration is explained, and the output's "(from …)"
// line says so; with no daemon running the file, the file as it reads
// now, said so too.
func TestRT11RouteExplainConfigThroughALinkAsksTheDaemon(t *testing.T) {
	dns := dnstest.Start(t, "test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"x.test. 300 IN MX 10 mx.x.test.", "mx.x.test. 300 IN A 127.0.0.132")
	dir := t.TempDir()
	listen := opsAddr(t, "127.0.0.132")
	cfgPath := umbraHub(t, dir, listen, "1h", "internet", "port: 38801\ntls: opportunistic", dnsServers(dns.Addr)+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	d.dumpLogIfFailed()
	link := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.Symlink(cfgPath, link); err != nil {
		t.Fatal(err)
	}
	// Edited, not reloaded: the daemon still runs tls: opportunistic.
	editConfig(t, cfgPath, "tls: opportunistic", "tls: none")
	explain := func() (string, string) {
		t.Helper()
		cmd := exec.Command(umbraBin, "route", "explain", "--config", link, "u@x.test")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("route explain --config %s: %v\n%s%s", link, err, out, stderr.String())
		}
		return string(out), stderr.String()
	}
	out, errOut := explain()
	if !strings.Contains(out, "send connector internet, tls: opportunistic") || !strings.Contains(out, "(from the configuration the daemon on") {
		t.Errorf("route explain --config LINK to the file the daemon runs explains another configuration than the daemon's:\n%s%s", out, errOut)
	}
	d.kill()
	out, errOut = explain()
	if !strings.Contains(out, "send connector internet, tls: none") || !strings.Contains(out, "(from the configuration file "+link+" as it reads now") {
		t.Errorf("route explain --config LINK with no daemon: the file as it reads now, said so:\n%s%s", out, errOut)
	}
}
