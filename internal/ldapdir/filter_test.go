package ldapdir

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// FuzzFilter: whatever an SMTP client sends as an address or AUTH name,
// the filter built from it compiles, keeps its structure (an AND of an
// equality on objectClass and one equality on mail) and asserts exactly
// the value given — no wildcard, no extra clause.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"alice@example.org", "*", "x)(mail=*", "\\2a", "a\x00b", "é@example.org", "(|(a=b))", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, err := ldap.CompileFilter(filter("(&(objectClass=person)(mail=%s))", v))
		if err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		if p.Tag != ldap.FilterAnd || len(p.Children) != 2 {
			t.Fatalf("value %q: filter structure changed: tag %d, %d children", v, p.Tag, len(p.Children))
		}
		eq := p.Children[1]
		if eq.Tag != ldap.FilterEqualityMatch || len(eq.Children) != 2 {
			t.Fatalf("value %q: not an equality match (tag %d)", v, eq.Tag)
		}
		if got := eq.Children[1].Data.String(); got != v {
			t.Fatalf("value %q asserted as %q", v, got)
		}
	})
}

func TestCacheBoundAndExpiry(t *testing.T) {
	c := newCache(2)
	now := time.Unix(1000, 0)
	c.put("a", recipient{found: true}, now.Add(time.Minute))
	c.put("b", recipient{}, now.Add(time.Minute))
	c.put("c", recipient{found: true, database: "DB1"}, now.Add(time.Minute))
	if c.len() != 2 {
		t.Fatalf("len %d, want 2", c.len())
	}
	if _, ok := c.get("a", now); ok {
		t.Fatal("the oldest entry survived past the size bound")
	}
	if r, ok := c.get("c", now); !ok || r.database != "DB1" {
		t.Fatalf("c = %+v, %v", r, ok)
	}
	if _, ok := c.get("c", now.Add(time.Minute)); ok {
		t.Fatal("an entry is used at its expiry time")
	}
	if c.len() != 1 {
		t.Fatalf("expired entry kept: len %d", c.len())
	}
}
