package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
)

// SR-17, OPS (receipt48 item 2): shadow single lists a message whose
// copy may exist on a server its push got no confirmation from in a
// section of its own — "with its shadow copy unconfirmed", COPY MAY
// EXIST ON — never among the messages held by this server only.
func TestShadowSingleListsUnconfirmedApart(t *testing.T) {
	since := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	cmd := &cobra.Command{}
	var out bytes.Buffer
	cmd.SetOut(&out)
	printSingle(cmd, []admin.SingleCopyView{
		{ID: "00000000000000a1", Lost: "hub-b", Since: since, Refused: "hub-b: 452 4.3.1 Insufficient system storage"},
		{ID: "00000000000000a2", Lost: "hub-c", Since: since, How: "no reply", Unconfirmed: true},
	}, -1)
	text := out.String()
	only, unconfirmed, ok := strings.Cut(text, "with its shadow copy unconfirmed")
	if !ok {
		t.Fatalf("no section of unconfirmed copies:\n%s", text)
	}
	if !strings.Contains(only, "1 message held by this server only") || !strings.Contains(only, "00000000000000a1") {
		t.Errorf("the refused copy's message is not listed held by this server only:\n%s", text)
	}
	if strings.Contains(only, "00000000000000a2") {
		t.Errorf("the unconfirmed copy's message is listed held by this server only:\n%s", text)
	}
	if !strings.Contains(unconfirmed, "COPY MAY EXIST ON") || !strings.Contains(unconfirmed, "00000000000000a2") || strings.Contains(unconfirmed, "00000000000000a1") {
		t.Errorf("the unconfirmed section does not list the unanswered push's message alone:\n%s", text)
	}
}
