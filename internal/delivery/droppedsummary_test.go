package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// fakeDropped marks, per call, the messages the ids name (every one
// held there for "*"), as queue.Manager.ShadowCopiesDropped does.
type fakeDropped struct {
	calls [][]string
	marks map[string]int // ids joined → messages marked
}

func (f *fakeDropped) ShadowCopiesDropped(server string, ids []string) (int, error) {
	f.calls = append(f.calls, ids)
	return f.marks[strings.Join(ids, ",")], nil
}

// The primary's summary of what a holder told it names what happened
// there: a copy set aside as damaged (XQUERYDROPPED "*") is not an
// administrator's removal, and the count an operator greps is the
// messages marked held by this server only, not the notes told (one
// "*" stands for every copy there; rt54 L1: "administrator removed
// copies … copies=1" for two damaged records and four messages marked).
func TestDroppedSummarySaysWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ids   []string
		marks map[string]int
		want  []string
		not   []string
	}{
		{"damaged", []string{"*"}, map[string]int{"*": 4},
			[]string{"set aside as damaged", "messages_marked=4"},
			[]string{"administrator removed", "copies="}},
		{"removed", []string{"a-1", "b-2"}, map[string]int{"a-1,b-2": 2},
			[]string{"administrator removed", "copies_removed=2", "messages_marked=2"},
			[]string{"damaged"}},
		{"both", []string{"a-1", "*"}, map[string]int{"a-1": 1, "*": 3},
			[]string{"administrator removed", "copies_removed=1", "messages_marked=1", "set aside as damaged", "messages_marked=3"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			rec := &fakeDropped{marks: tc.marks}
			if err := recordDropped(slog.New(slog.NewTextHandler(&logs, nil)), rec, "hub-b", tc.ids); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(logs.String(), n) {
					t.Errorf("log has %q:\n%s", n, logs.String())
				}
			}
		})
	}
}
