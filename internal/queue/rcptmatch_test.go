package queue

import "testing"

// The copies of one message name their recipients as its first server
// took them: "TD@good.test" and "td@good.test" of a relayed domain are
// two mailboxes and each matches its own (rt17b-F2); a spelling that
// differs in ASCII case alone matches the one recipient so written, and
// none where the record has two such.
func TestRcptMatchLocalPartExactFirst(t *testing.T) {
	m := newRcptMatch[int]()
	for i, a := range []string{"TD@good.test", "td@good.test", "X@example.net", "anna@bücher.example"} {
		m.put(a, i)
	}
	for _, c := range []struct {
		addr string
		want int // -1: no match
	}{
		{"TD@good.test", 0},
		{"td@good.test", 1},
		{"td@GOOD.test", 1},
		{"Td@good.test", -1}, // two recipients are "td" in ASCII case: neither
		{"x@example.net", 2}, // the one so written
		{"anna@xn--bcher-kva.example", 3},
		{"other@good.test", -1},
	} {
		i, ok := m.get(c.addr)
		if !ok {
			i = -1
		}
		if i != c.want {
			t.Errorf("get(%q) = %d, want %d", c.addr, i, c.want)
		}
	}
	var none *rcptMatch[int]
	if none.has("a@b") {
		t.Error("a nil match matched")
	}
}
