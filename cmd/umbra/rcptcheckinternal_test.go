package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"umbra/internal/recipients"
	"umbra/internal/routing"
)

// panickedDirectory is a directory source whose lookup panicked: the
// error ldapdir gives (unavailable, and umbra's own fault).
type panickedDirectory struct{}

func (panickedDirectory) Lookup(context.Context, string) (recipients.Verdict, error) {
	return recipients.CannotDecide, fmt.Errorf("ldap %w: %w (recovered panic)", recipients.ErrDirectoryFailure, recipients.ErrInternal)
}

// SMTP-6, OPS-2 (front48 item 4): route explain says of an address
// whose directory lookup panicked what RCPT answers it — 451 4.3.0,
// umbra's internal error —, never the directory server failure (451
// 4.4.3) the session no longer gives for it.
func TestRcptCheckPanickedLookupSaysInternalError(t *testing.T) {
	v := recipients.NewValidator([]recipients.DomainMode{{Pattern: "example.test", Mode: recipients.ModeDirectory}}, panickedDirectory{}, nil)
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil)
	got := checkAddresses(context.Background(), v, table, []string{"alice@example.test"})
	if len(got) != 1 || !strings.HasPrefix(got[0].RCPT, "451 4.3.0 internal error of this server") {
		t.Fatalf("checked: %+v, want RCPT's 451 4.3.0 internal error", got)
	}
}
