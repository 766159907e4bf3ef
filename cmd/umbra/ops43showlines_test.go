package main

import (
	"bytes"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// OPS-43 item 1: message show of a message whose recipients the answer
// names only in part says how many more it has and how to list them.
func TestOPS43MessageShowSaysHowManyMore(t *testing.T) {
	m := admin.MessageView{ID: "ID1", Recipients: []admin.RecipientView{{Address: "bob@example.net", Status: "pending", Queue: "example.net"}},
		RecipientsMore: 49999}
	var b bytes.Buffer
	if err := printRecipients(&b, m); err != nil {
		t.Fatal(err)
	}
	if want := "and 49999 more (50000 in all; umbra message show --all ID1 lists every one)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("show's recipients:\n%s\nwant %q", b.String(), want)
	}
	b.Reset()
	m.RecipientsMore = 0
	printRecipients(&b, m)
	if strings.Contains(b.String(), "more") {
		t.Errorf("show's recipients, all named:\n%s\nwant no count of more", b.String())
	}
}
