package config

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rt16b-F6: the README's table of size units is the parser's: every unit
// ParseSize takes is documented with the bytes it stands for, every
// documented one is taken with exactly that factor, and other spellings
// are refused (OPS-3: umbra config check).
func TestSizeUnitsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n| size unit | bytes |\n|---|---|\n")
	if !ok {
		t.Fatal(`the README has no "| size unit | bytes |" table`)
	}
	documented := map[string]int64{}
	for _, row := range strings.Split(table, "\n") {
		if !strings.HasPrefix(row, "| ") {
			break
		}
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		if len(cells) < 2 {
			t.Fatalf("row %q", row)
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.Fields(cells[1])[0], ",", ""), 10, 64)
		if err != nil {
			t.Fatalf("row %q: %v", row, err)
		}
		for _, u := range strings.Split(cells[0], ", ") {
			documented[strings.Trim(u, "`")] = n
		}
	}
	for _, u := range sizeUnits {
		if got, ok := documented[u.suffix]; !ok || got != u.mult {
			t.Errorf("unit %s (%d bytes) documented as %d (%v)", u.suffix, u.mult, got, ok)
		}
	}
	if len(documented) != len(sizeUnits)+1 { // and "(none)"
		t.Errorf("documented units %v, the parser's %v", documented, sizeUnits)
	}
	for u, mult := range documented {
		if u == "(none)" {
			u = ""
		}
		for _, s := range []string{"3" + u, "3 " + u} {
			if got, err := ParseSize(strings.TrimSpace(s)); err != nil || got != 3*mult {
				t.Errorf("ParseSize(%q) = %d, %v; the README says %d", s, got, err, 3*mult)
			}
		}
	}
	if got, _ := ParseSize("1MB"); got != 1000000 {
		t.Errorf("1MB = %d", got)
	}
	for _, s := range []string{"1mb", "1mib", "1kB", "1Kb", "1TB", "1TiB", "1M", "1k", "1.5MiB", "-1KiB", "MiB", "1 MiB/s"} {
		if n, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", s, n)
		}
	}
	// rt44 front F3: the refusal names both kinds of unit, and for a
	// unit in another case the two it may have meant.
	for s, want := range map[string]string{
		"10mb":   "write MiB (1,048,576 bytes) or MB (1,000,000 bytes); case matters",
		"10M":    "write MiB (1,048,576 bytes) or MB (1,000,000 bytes)",
		"10 kB":  "write KiB (1,024 bytes) or KB (1,000 bytes)",
		"1gb":    "write GiB (1,073,741,824 bytes) or GB (1,000,000,000 bytes)",
		"1.5MiB": "no fraction: write 1536KiB for 1.5MiB",
		"1TB":    "KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based)",
	} {
		if _, err := ParseSize(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSize(%q): %v, want it to say %q", s, err, want)
		}
	}
}
