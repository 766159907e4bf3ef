package queue

import (
	"strings"
	"testing"
)

// The refusal of a backup names the command that removes each kind of
// copy: a dumpster copy has one (umbra dumpster remove), and the text
// used to say it had none.
func TestUnreadableBodiesNamesRemoveCommands(t *testing.T) {
	e := &UnreadableBodiesError{Bodies: []UnreadableBody{
		{What: "message 00066189D56A224A", File: "06374bc6", Problem: "missing"},
		{What: "dumpster copy of message 00066189D56A224B (database DB1, kept 2026-01-01T00:00:00Z)", File: "07374bc6", Problem: "missing"},
	}}
	msg := e.Error()
	if strings.Contains(msg, "no remove command") || !strings.Contains(msg, "umbra dumpster remove") || !strings.Contains(msg, "umbra message remove") {
		t.Errorf("%s", msg)
	}
}
