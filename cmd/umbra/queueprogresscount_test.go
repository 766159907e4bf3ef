package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// OPS-5: rt33c F8's siblings — the progress line after each
// batch of a queue action and the error that says what was done before
// a failure read "so far 1 messages made due", "before that: 1
// messages made due".
func TestQueueProgressCountsAgree(t *testing.T) {
	var buf strings.Builder
	cmd := &cobra.Command{}
	cmd.SetErr(&buf)
	queueProgress(cmd, "retry", "made due")(1)
	if got := buf.String(); !strings.Contains(got, "so far 1 message made due") {
		t.Errorf("progress %q; want \"so far 1 message made due\"", got)
	}
	err := queueActionErr(errors.New("x"), 1, "made due")
	if !strings.Contains(err.Error(), "before that: 1 message made due") {
		t.Errorf("%q; want \"before that: 1 message made due\"", err)
	}
}
