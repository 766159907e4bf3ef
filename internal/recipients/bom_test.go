package recipients

import (
	"context"
	"strings"
	"testing"
)

// SPEC OPS-3: a recipients file saved with a UTF-8 byte-order mark has
// its first address known; an invisible character before an address is
// refused at its line.
func TestFileBOM(t *testing.T) {
	l, err := ParseFile([]byte("\ufeffalice@example.org\nbob@example.org\n"), "rcpts")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := l.Lookup(context.Background(), "alice@example.org"); v != Known {
		t.Fatalf("first address of a file with a byte-order mark: %v, want known", v)
	}
	// A no-break space is white space the line's trim takes away.
	if l, err := ParseFile([]byte("\u00a0alice@example.org\n"), "rcpts"); err != nil {
		t.Errorf("no-break space before an address: %v", err)
	} else if v, _ := l.Lookup(context.Background(), "alice@example.org"); v != Known {
		t.Errorf("no-break space before an address: %v, want known", v)
	}
	for _, lead := range []string{"\u200b", "\u2060", "\ufeff"} {
		_, err := ParseFile([]byte("bob@example.org\n"+lead+"alice@example.org\n"), "rcpts")
		if err == nil || !strings.Contains(err.Error(), "rcpts:2:") {
			t.Errorf("address starting with %U: err %v, want refused at rcpts:2", []rune(lead)[0], err)
		}
	}
}
