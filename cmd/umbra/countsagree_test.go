package main

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"

	"github.com/spf13/cobra"
)

// OPS-3, OPS-5: rt33c F8's siblings — shadow list's section of the
// messages held by this server only read "1 messages held by this
// server only (their shadow copy was lost …" for one message.
func TestSingleCopySectionCountAgrees(t *testing.T) {
	var buf strings.Builder
	cmd := &cobra.Command{}
	cmd.SetOut(&buf)
	printSingle(cmd, []admin.SingleCopyView{{ID: "m1", Lost: "hub2.example.test", Since: time.Unix(0, 0)}}, -1)
	if got := buf.String(); !strings.Contains(got, "\n1 message held by this server only (its shadow copy was lost") {
		t.Errorf("%q; want \"1 message held by this server only (its shadow copy was lost …\"", got)
	}
}
