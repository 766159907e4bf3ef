package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// kindSeg is one step of a path to a setting: a key, and whether the
// field under it is a list (the setting sits in its first element).
type kindSeg struct {
	key  string
	list bool
}

// kindLeaves lists every setting of t (walking sections and lists of
// sections) whose value is a number, a boolean, a duration or a size.
func kindLeaves(t reflect.Type, path []kindSeg, out *[][]kindSeg) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		list := false
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft, list = ft.Elem(), true
		}
		p := append(append([]kindSeg{}, path...), kindSeg{key: tag, list: list})
		switch {
		case ft == reflect.TypeOf(Duration(0)) || ft == reflect.TypeOf(Size(0)):
			*out = append(*out, p)
		case ft.Kind() == reflect.Struct:
			kindLeaves(ft, p, out)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Bool:
			*out = append(*out, p)
		default:
			switch ft.Kind() {
			case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Float64, reflect.Bool:
				*out = append(*out, p)
			}
		}
	}
}

// kindDoc writes a document that sets only the leaf at path to value;
// it returns the text and the leaf's line.
func kindDoc(path []kindSeg, value string) (string, int) {
	var b strings.Builder
	indent := ""
	for i, s := range path {
		if i == len(path)-1 {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, s.key, value)
			break
		}
		fmt.Fprintf(&b, "%s%s:\n", indent, s.key)
		if s.list {
			fmt.Fprintf(&b, "%s  -\n", indent)
			indent += "    "
		} else {
			indent += "  "
		}
	}
	text := b.String()
	return text, strings.Count(text, "\n")
}

// wrongKinds are values of the wrong kind for each kind of setting:
// every one must be refused at its line, none rounded, read as a YAML
// 1.1 boolean or left as the zero value (NEW-1: mx_address_limit: 0.5
// was decoded as 0, "no bound").
func wrongKinds(t reflect.Type) []string {
	null := []string{"~", ""}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	// A duration or a size with a leading zero whose octal and decimal
	// readings differ is refused as a whole number is (rt41 F3).
	case t == reflect.TypeOf(Duration(0)):
		return append(null, "0.5", "true", "010s", "1h08m", "09m", "2d010h")
	case t == reflect.TypeOf(Size(0)):
		return append(null, "0.5", "1e9", "true", "010MiB", "09KiB", `"010"`)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint:
		// 010, -010, 0_10: a leading zero reads as octal (010 is 8),
		// not as the decimal number the operator most likely meant
		// (rt38 F9); 09 is no octal number at all.
		return append(null, "0.5", "1.5", "-0.5", "1e9", "5.0", "true", "yes", `"5"`, "[1]", "{a: 1}", "010", "-010", "+0_10", "09")
	case reflect.Float64:
		return append(null, `"0.5"`, "true", "yes", ".nan", ".inf", "-.inf", "[1]")
	case reflect.Bool:
		return append(null, "yes", "no", "on", "off", "y", `"true"`, "1", "0", "[true]")
	}
	return nil
}

func fieldAt(t reflect.Type, path []kindSeg) reflect.Type {
	for _, s := range path {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		t = t.Field(yamlFieldIndex(t)[s.key]).Type
	}
	return t
}

func TestWrongKindRefusedAtItsLine(t *testing.T) {
	for _, top := range []struct {
		name  string
		t     reflect.Type
		parse func([]byte, string) error
	}{
		{"config", reflect.TypeOf(Config{}), func(d []byte, f string) error { _, err := Parse(d, f); return err }},
		{"topology", reflect.TypeOf(Topology{}), func(d []byte, f string) error { _, err := ParseTopology(d, f); return err }},
	} {
		var leaves [][]kindSeg
		kindLeaves(top.t, nil, &leaves)
		if len(leaves) < 10 {
			t.Fatalf("%s: only %d settings found", top.name, len(leaves))
		}
		for _, path := range leaves {
			ft := fieldAt(top.t, path)
			for _, v := range wrongKinds(ft) {
				text, line := kindDoc(path, v)
				err := top.parse([]byte(text), "k.yaml")
				prefix := fmt.Sprintf("k.yaml:%d: ", line)
				if err == nil || !strings.Contains(err.Error(), prefix) {
					t.Errorf("%s %s = %s (%s): want an error at %q, got %v\n%s", top.name, path[len(path)-1].key, v, ft, prefix, err, text)
				}
			}
		}
	}
}

// A value of the right kind still loads: whole numbers in every form
// YAML writes one, true and false, numbers in float settings.
func TestRightKindStillDecodes(t *testing.T) {
	doc := `server:
  name: a.example.test
transport:
  max_active: 0x10
  poison_threshold: 1_000
  retry_jitter: 00
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
    externally_secured: false
    limits:
      max_connections: +7
send_connectors:
  - name: out
    address_spaces:
      - domain: "*"
        cost: 1
    mx_address_limit: 0
    enabled: true
`
	c, err := Parse([]byte(doc), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport.MaxActive != 16 || c.Transport.PoisonThreshold != 1000 || c.Transport.RetryJitter != 0 ||
		c.ReceiveConnectors[0].Limits.MaxConnections != 7 || c.SendConnectors[0].MXAddressLimit != 0 {
		t.Errorf("decoded %+v %+v %+v", c.Transport, c.ReceiveConnectors[0].Limits, c.SendConnectors[0])
	}
}

// A byte that is not UTF-8 (a Latin-1 é in a comment) is refused at its
// line, with the byte named: the YAML decoder's own error has no line.
func TestNonUTF8ByteAtItsLine(t *testing.T) {
	doc := "server:\n  name: a.example.test\n# caf\xe9\ntransport:\n  max_active: 10\n"
	_, err := Parse([]byte(doc), "u.yaml")
	if err == nil || !strings.Contains(err.Error(), "u.yaml:3: ") || !strings.Contains(err.Error(), "byte \xe9 is") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseTopology([]byte("sites:\n  - name: s\xff1\n"), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2: ") {
		t.Fatalf("topology: got %v", err)
	}
}
