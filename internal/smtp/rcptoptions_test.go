package smtp

import (
	"slices"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// notifyOrder is in sorted order, so RCPT's NOTIFY list reads as it did
// when each recipient's list was sorted.
func TestNotifyOrderSorted(t *testing.T) {
	var got []gosmtp.DSNNotify
	for _, n := range notifyOrder {
		got = append(got, n.dsn)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("notifyOrder %v is not sorted", got)
	}
}
