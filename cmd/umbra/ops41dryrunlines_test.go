package main

import (
	"bytes"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// OPS-5 (rt41 F6): message remove --queue Q --dry-run prints, for each
// message it would remove, the recipients that go with it and their
// queues, and says how many of them wait outside Q.
func TestOPSDryRunRemoveLinesNameTheRecipients(t *testing.T) {
	res := admin.BulkResult{Action: "remove", DryRun: true, Done: []string{"ID1"},
		Takes: []admin.BulkTake{{ID: "ID1", Recipients: []admin.BulkRecipient{
			{Address: "bob@example.net", Queue: "example.net"}, {Address: "carol@example.com", Queue: "example.com"}}}},
		OtherQueues: 1}
	var b bytes.Buffer
	bulkLines(&b, res)
	for _, want := range []string{
		"ID1: would remove with its recipients bob@example.net (queue example.net), carol@example.com (queue example.com)\n",
		"a removal takes the whole message: 1 recipient in other queues than the one selected would go too\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dry run lines:\n%s\nwant %q", b.String(), want)
		}
	}
}

// OPS-42 item 2: a message whose recipients the answer names only in
// part (admin.TakesShown of them) says how many more go with it.
func TestOPS42DryRunRemoveLinesSayHowManyMore(t *testing.T) {
	res := admin.BulkResult{Action: "remove", DryRun: true, Done: []string{"ID1"},
		Takes: []admin.BulkTake{{ID: "ID1", Recipients: []admin.BulkRecipient{
			{Address: "bob@example.net", Queue: "example.net"}}, More: 9999}}}
	var b bytes.Buffer
	bulkLines(&b, res)
	if want := "ID1: would remove with its recipients bob@example.net (queue example.net) and 9999 more (10000 in all)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("dry run lines:\n%s\nwant %q", b.String(), want)
	}
}
