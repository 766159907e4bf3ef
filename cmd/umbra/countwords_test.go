package main

import (
	"fmt"
	"testing"

	"umbra/internal/admin"
)

// OPS-3 (rt33c F8): "1 message the replaced database held beyond the
// backup are left in it": a count's noun and verb agree with it, in
// db restore's summary and every count sentence of the commands
// (copies removed, messages redirected, matched, due, released).
func TestOPS3CountSentencesAgree(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmt.Sprintf("%s the replaced database held beyond the backup %s left in it", plural(1, "message"), isAre(1)), "1 message the replaced database held beyond the backup is left in it"},
		{fmt.Sprintf("%s the replaced database held beyond the backup %s left in it", plural(2, "message"), isAre(2)), "2 messages the replaced database held beyond the backup are left in it"},
		{nouns(1, "copy", "copies") + " removed", "1 copy removed"},
		{nouns(0, "copy", "copies") + " removed", "0 copies removed"},
		{nouns(1, "body", "bodies") + " " + isAre(1) + " NOT in this backup", "1 body is NOT in this backup"},
		{dueText(admin.NewClient(""), 1), "1 message due now"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
