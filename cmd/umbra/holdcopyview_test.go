package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// rt20f F4 / rt21a L2: shadow list and shadow single said a resumed
// message's copy was lost on its server, where the hold discarded it:
// they say what befell it (SingleCopyView.How), and a mark without a
// kind (a copy lost with its server's database) reads as before.
func TestShadowSingleSaysTheHoldDiscardedTheCopy(t *testing.T) {
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	now := time.Now()
	printSingle(cmd, []admin.SingleCopyView{
		{ID: "0000000000000001", Lost: "hub-c", Since: now, How: queue.HowHeld},
		{ID: "0000000000000002", Lost: "hub-d", Since: now},
	}, -1)
	lines := strings.Split(out.String(), "\n")
	var held, lost string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "0000000000000001"):
			held = l
		case strings.HasPrefix(l, "0000000000000002"):
			lost = l
		}
	}
	if !strings.Contains(held, "hub-c (discarded when the message was held; made again when it goes)") {
		t.Errorf("the held message's line %q does not say the hold discarded its copy", held)
	}
	if !strings.Contains(lost, "hub-d") || strings.Contains(lost, "(") {
		t.Errorf("a copy lost with its server's database: %q; want the server alone, as before", lost)
	}
}
