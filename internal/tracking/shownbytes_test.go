package tracking

import (
	"path/filepath"
	"testing"
)

// A value written with \xNN byte escapes (as message list --from reads
// it: jsonsafe.FromTextBytes) finds the sender that holds those bytes as
// UTF-8, as message list --from does (rt47 F4); the value as typed and
// as shown still match.
func TestSearchTakesByteEscapesLikeMessageList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Entry{Event: "receive", ID: "A", MessageID: "<a@x>", Sender: "u\u00e9@x.test", Recipients: []string{"r@x.test"}})
	l.Write(Entry{Event: "receive", ID: "B", MessageID: "<b@x>", Sender: "csi\u009bx@x.test", Recipients: []string{"r\u00e9@x.test"}})
	l.Write(Entry{Event: "receive", ID: "C", MessageID: "<c@x>", Sender: `lit\xc3\xa9@x.test`, Recipients: []string{"r@x.test"}})
	l.Close()
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{Sender: `u\xc3\xa9@x.test`}, "A"},
		{Query{Sender: "u\u00e9@x.test"}, "A"},
		{Query{Sender: `csi\xc2\x9bx@x.test`}, "B"},
		{Query{Sender: `csi\u009bx@x.test`}, "B"},
		{Query{Recipient: `r\xc3\xa9@`}, "B"},
		{Query{Sender: `lit\\xc3\\xa9@`}, "C"},
	} {
		es, err := Search(path, 0, c.q)
		got := ""
		for _, e := range es {
			got += e.ID
		}
		if err != nil || got != c.want {
			t.Errorf("search %+v: %q %v, want %q", c.q, got, err, c.want)
		}
	}
}
