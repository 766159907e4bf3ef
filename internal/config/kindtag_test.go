package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// rt26 F3: an explicit tag that claims a kind the value does not have
// (!!int 3.5, !!bool yes) passed the kind check and was refused by the
// decoder without file or line; a whole number too large for its setting
// was called a fraction. One too large says which numbers the setting
// can hold at all (rt45 ops: it named no range).
func TestExplicitTagMustFitItsSetting(t *testing.T) {
	for text, c := range map[string]struct {
		typ  reflect.Type
		want string
	}{
		"!!int 3.5":            {reflect.TypeOf(0), "3.5 is not a whole number"},
		"!!int 0x10":           {reflect.TypeOf(0), ""},
		"!!int 300":            {reflect.TypeOf(uint8(0)), "300 is out of range for this setting (a whole number from 0 to 255)"},
		"99999999999999999999": {reflect.TypeOf(0), "is out of range for this setting (a whole number from -9223372036854775808 to 9223372036854775807)"},
		"!!int 40000":          {reflect.TypeOf(int16(0)), "(a whole number from -32768 to 32767)"},
		"0.5":                  {reflect.TypeOf(0), "is not a whole number (a fraction"},
		"!!bool yes":           {reflect.TypeOf(false), "yes is not true or false"},
		"!!bool true":          {reflect.TypeOf(false), ""},
		"true":                 {reflect.TypeOf(false), ""},
		"!!float nan-ish":      {reflect.TypeOf(0.0), "is not a finite number"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("v: "+text+"\n"), &doc); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		got := wrongKind(doc.Content[0].Content[1], c.typ, nil)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s as %v: %q, want %q", text, c.typ, got, c.want)
		}
	}
}
