package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// rt21c L4: queue redirect leaves a message in delivery where it is
// (its attempt writes its results): the command says how many stayed
// and to run it again, in text and --json, exits 4 (in delivery, try
// again), and its audit line counts them. Here the attempt is a first
// one, hung at the end of its data: no recipient names the queue yet.
func TestRedirectSaysWhatStayedInDelivery(t *testing.T) {
	dir := t.TempDir()
	listen, hop := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	h := startEODHang(t, hop)
	cfg := relayConfig(t, dir, listen, hop)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, subj := range []string{"busy-1", "busy-2"} {
		if ok, err := send(listen, subj); !ok {
			t.Fatalf("send: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.sessions() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery reached the end of its data")
		}
		time.Sleep(20 * time.Millisecond)
	}
	other := reserveAddr(t, "127.0.0.1")
	cmd := exec.Command(umbraBin, "--config", cfg, "--json", "queue", "redirect", "smarthost:sink", "--to", other)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ee, _ := err.(*exec.ExitError)
	var got struct {
		Messages       int `json:"messages"`
		KeptInDelivery int `json:"kept_in_delivery"`
	}
	if ee == nil || ee.ExitCode() != exitBusy || json.Unmarshal(out, &got) != nil || got.KeptInDelivery < 1 || got.Messages+got.KeptInDelivery != 2 ||
		!strings.Contains(stderr.String(), "run umbra queue redirect smarthost:sink --to "+other+" again") {
		t.Fatalf("redirect with a message in delivery: %v\n%s\n%s\nwant exit %d, kept_in_delivery counted, and to run it again", err, out, stderr.String(), exitBusy)
	}
	// Again, in text: the one in delivery is still there.
	code, errOut := cliErr(t, cfg, "queue", "redirect", "smarthost:sink", "--to", other)
	if code != exitBusy || !strings.Contains(errOut, "were in delivery and stay in it") {
		t.Errorf("the second redirect: exit %d %q", code, errOut)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), "in delivery left in the queue (redirect again after their attempt)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit line counts the messages left in delivery")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
