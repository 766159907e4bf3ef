package mailaddr

import "testing"

func TestNameKey(t *testing.T) {
	for in, want := range map[string]string{
		"Example.TEST.":          "example.test",
		"example.test":           "example.test",
		"Bücher.Example.":        "xn--bcher-kva.example",
		"XN--BCHER-KVA.example.": "xn--bcher-kva.example",
		"*.Sub.Test.":            "*.sub.test",
		".":                      ".",
		"":                       "",
	} {
		if got := NameKey(in); got != want {
			t.Errorf("NameKey(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Name("\u212Aiosk.test."); err == nil {
		t.Errorf("Name accepted a KELVIN SIGN label")
	}
}
