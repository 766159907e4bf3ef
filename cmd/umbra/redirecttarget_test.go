package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// One HOST[:PORT] check (config.CheckHostPort): a target queue redirect
// --to refuses (the API checks it) is refused in the same words as
// config check refuses the smart host, there at its file and line, and a
// redirect queue's name with it is no queue. A port with a leading zero
// is refused by all three, not by the configuration alone (SR- smart
// host syntax; OPS- queue redirect), and so is the unspecified address.
func TestRedirectTargetCheckedAsSmartHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	startUmbra(t, cfg, listen)
	for _, bad := range []string{"relay.example:025", "relay.example:", "[::1]:0", "[::1]:025", "relay.example:0",
		"relay.example:65536", "relay.example:+25", "999.1.1.1", "[relay.example]", "relay.example:25:1", ":25",
		// rt27c F2: the unspecified address connects to this machine
		// itself (with server.source_address, to this server's listener).
		"0.0.0.0:2525", "[::]:25", "[::ffff:0.0.0.0]:25"} {
		// config check: exit 78 with FILE:LINE: smart host "bad": WORDS.
		badCfg := relayConfig(t, t.TempDir(), listen, bad)
		out, err := exec.Command(umbraBin, "config", "check", "-c", badCfg).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
			t.Errorf("config check of smart host %q: %v %s, want exit %d", bad, err, out, exitConfig)
			continue
		}
		b, _ := os.ReadFile(badCfg)
		line := 0
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "smart_hosts:") {
				line = i + 1
			}
		}
		prefix := badCfg + ":" + strconv.Itoa(line) + ": smart host \"" + bad + "\": "
		_, words, ok := strings.Cut(string(out), prefix)
		if !ok {
			t.Errorf("config check of smart host %q: %s\nwant %q", bad, out, prefix)
			continue
		}
		words, _, _ = strings.Cut(words, "\n")

		// queue redirect --to: exit 64 in the same words.
		cmd := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", bad)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err = cmd.Run()
		want := "redirect target \"" + bad + "\": " + words
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("queue redirect --to %s: %v %q, want exit %d with %q", bad, err, stderr.String(), exitUsage, want)
		}
		// A redirect queue of that name is none the configuration makes.
		if out, code := cli(t, cfg, "queue", "suspend", "redirect:"+bad); code == 0 {
			t.Errorf("queue suspend redirect:%s: taken: %s", bad, out)
		}
	}
}
