package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Every setting's value is of its setting's kind, checked on the node
// tree before decoding (checkKnownFields), for the whole file and the
// topology file alike:
//   - a whole-number setting takes a YAML integer only: yaml.v3 would
//     truncate 0.5 to 0 (for mx_address_limit, "no bound") and 1.9 to 1;
//   - a number setting (a percentage, a weight) takes an integer or a
//     finite float: NaN passes every range check;
//   - a boolean takes true or false only: yaml.v3 reads the YAML 1.1
//     words yes, no, on, off, y and n as booleans, which YAML 1.2 and
//     every other reader take as strings;
//   - none of these, nor a duration or a size, may be written without a
//     value (key: or key: ~): yaml.v3 leaves the zero there, and for
//     many settings zero is a setting of its own (no bound, at once).
//
// Durations and sizes check their own text (units.go). A text setting
// takes any scalar: 5 and true are the texts "5" and "true".

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// kindNames says what a scalar type with its own unmarshaler wants.
var kindNames = map[reflect.Type]string{
	reflect.TypeOf(Duration(0)): "a duration such as 30s, 5m, 4h or 2d",
	reflect.TypeOf(Size(0)):     "a size such as 36MiB or 1048576",
}

// wrongKind says what is wrong with n as a value of type t, or "";
// path is the setting's (its range, when intBounds knows one, is named
// for a whole number past its type's).
func wrongKind(n *yaml.Node, t reflect.Type, path []any) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tag := n.ShortTag()
	null := n.Kind == yaml.ScalarNode && tag == "!!null"
	if t.Kind() != reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		if null {
			return "has no value: write " + kindNames[t] + ", or leave the key out for the default"
		}
		return "" // the type's UnmarshalYAML checks the rest, at this line
	}
	// An explicit tag (!!int 3.5, !!bool yes) claims the kind without
	// the value having it: the value must decode as the setting's type,
	// or the decoder would refuse it later without the line (rt26 F3).
	fits := func() bool { return n.Decode(reflect.New(t).Interface()) == nil }
	var want string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
		if n.Kind == yaml.ScalarNode && tag == "!!int" {
			if msg := leadingZero(n); msg != "" {
				return msg
			}
			if fits() {
				return ""
			}
			if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil || strings.Contains(err.Error(), "range") {
				return fmt.Sprintf("%s is out of range for this setting (%s)", written(n), intRange(t, path))
			}
			return fmt.Sprintf("%s is not a whole number", written(n))
		}
		if n.Kind == yaml.ScalarNode && tag == "!!float" {
			if msg := leadingZero(n); msg != "" {
				return msg // 09: no octal number, so the decoder calls it a float
			}
			if strings.Trim(n.Value, "+-0123456789_") == "" {
				return fmt.Sprintf("%s is out of range for this setting (%s)", written(n), intRange(t, path))
			}
			// 1e3 or 10.0: a whole number in another form than digits
			// (rt36 F4: "a fraction is refused" said what was not so).
			if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				form := "with a decimal point"
				if strings.ContainsAny(n.Value, "eE") {
					form = "in exponent form"
				}
				return fmt.Sprintf("%s is a whole number written %s: write it in digits (%d)", written(n), form, int64(f))
			}
			return fmt.Sprintf("%s is not a whole number (a fraction is refused, not rounded)", written(n))
		}
	case reflect.Float32, reflect.Float64:
		want = "a number"
		if n.Kind == yaml.ScalarNode && tag == "!!int" {
			return ""
		}
		if n.Kind == yaml.ScalarNode && tag == "!!float" {
			var f float64
			if err := n.Decode(&f); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return ""
			}
			return fmt.Sprintf("%s is not a finite number", written(n))
		}
	case reflect.Bool:
		want = "true or false"
		if n.Kind == yaml.ScalarNode && tag == "!!bool" && (n.Value == "true" || n.Value == "false") {
			return ""
		}
	default:
		return "" // text, sections and lists: the decoder reports a mismatch
	}
	if null {
		return "has no value: write " + want + ", or leave the key out for the default"
	}
	return fmt.Sprintf("%s is not %s", written(n), want)
}

// wrongShape says what is wrong with n as a value of type t when their
// shapes differ — a single value where a list or a section is expected,
// or the other way round — in the operator's words ("a list of
// durations is expected, not \"5m\""), or "". yaml.v3 would say
// "cannot unmarshal !!str `5m` into []config.Duration". A value with
// no value (key: or key: ~) is no list or section to refuse.
func wrongShape(n *yaml.Node, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return ""
	}
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	switch t.Kind() {
	case reflect.Slice:
		if custom || n.Kind == yaml.SequenceNode {
			return ""
		}
		what := "a list"
		if noun := pluralNoun(t.Elem()); noun != "" {
			what += " of " + noun
		}
		if n.Kind == yaml.ScalarNode {
			return fmt.Sprintf("%s is expected, not %s (write [%s])", what, strconv.Quote(n.Value), quotedIfNeeded(n))
		}
		return fmt.Sprintf("%s is expected, not %s", what, written(n))
	case reflect.Struct, reflect.Map:
		if n.Kind == yaml.MappingNode {
			return ""
		}
		if n.Kind == yaml.ScalarNode {
			return fmt.Sprintf("a section (key: value lines below it) is expected, not %s", strconv.Quote(n.Value))
		}
		return "a section (key: value lines below it) is expected, not " + written(n)
	case reflect.String:
		if n.Kind == yaml.ScalarNode {
			return ""
		}
		return "a single value is expected, not " + written(n)
	}
	if custom && n.Kind != yaml.ScalarNode {
		return "a single value is expected, not " + written(n) // a duration, a size
	}
	return ""
}

// pluralNoun names a list's elements of type t for wrongShape, "" when
// "a list" says enough.
func pluralNoun(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(Duration(0)):
		return "durations"
	case reflect.TypeOf(Size(0)):
		return "sizes"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "sections"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole numbers"
	}
	return ""
}

// quotedIfNeeded is n's text as it goes into a flow list: quoted when it
// was, or when it holds a character a flow list reads otherwise.
func quotedIfNeeded(n *yaml.Node) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || strings.ContainsAny(n.Value, ",[]{}:#&*!|>'\"%@`") {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// leadingZero refuses a whole number written with a leading zero whose
// octal and decimal readings differ (010, -010, 0_10, 09): the decoder
// reads it as octal, 8 for 010, where the operator most likely meant the
// decimal number. 007 means 7 either way; a base written out (0x10,
// 0o10, 0b10) says what it means.
func leadingZero(n *yaml.Node) string {
	return leadingZeroText(n.Value, true)
}

// leadingZeroText is what leadingZero says of the number s (a sign,
// digits, underscores), "" when it reads the same either way. A port, a
// size or a duration (units.go, checkHostPort) is read in decimal by
// its own parser, but the same text in a whole-number setting reads
// octal: so it is refused the same way (octalForm false: no 0o form is
// offered, that parser takes none), and 010 means one thing, or
// nothing, in every setting.
func leadingZeroText(s string, octalForm bool) string {
	v := strings.TrimLeft(s, "+-")
	if len(v) < 2 || v[0] != '0' || strings.Trim(v, "0123456789_") != "" {
		return ""
	}
	digits := strings.ReplaceAll(v, "_", "")
	dec, derr := strconv.ParseUint(digits, 10, 64)
	oct, oerr := strconv.ParseUint(digits, 8, 64)
	if derr != nil || oerr == nil && oct == dec {
		return ""
	}
	sign := strings.TrimSuffix(s, v)
	if oerr != nil {
		return fmt.Sprintf("%s has a leading zero, which reads as an octal number, and is not one: write %s%d", s, sign, dec)
	}
	if !octalForm {
		return fmt.Sprintf("%s has a leading zero, which reads as the octal number %s%d in a whole-number setting: write %s%d for the decimal number", s, sign, oct, sign, dec)
	}
	return fmt.Sprintf("%s has a leading zero, which reads as the octal number %s%d: write %s%d for the decimal number, or %s0o%o for the octal one", s, sign, oct, sign, dec, sign, oct)
}

// leadingZeroIn is leadingZeroText of the first number in s (a
// duration: 1h08m) with a leading zero that reads apart; the fraction
// of a decimal (1.05s) is no whole number and is left alone.
func leadingZeroIn(s string) string {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' || i > 0 && s[i-1] == '.' {
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '_') {
			j++
		}
		if msg := leadingZeroText(s[i:j], false); msg != "" {
			return msg
		}
		i = j
	}
	return ""
}

// written is n as the operator wrote it, for messages.
func written(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section"
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return strconv.Quote(n.Value) + " (quoted: a text)"
	}
	return n.Value
}

// intRange says which whole numbers an integer setting of type t can
// hold at all ("at most 9223372036854775807"), for the refusal of one
// past them: the setting's own checks, which name its useful range, run
// only on a value that decodes (rt45 ops: the refusal named no range).
func intRange(t reflect.Type, path []any) string {
	if b, ok := boundOf(path); ok {
		return b.text() // the setting's own range (ops48 F4)
	}
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-bits))
	}
	return fmt.Sprintf("a whole number from %d to %d", int64(math.MinInt64)>>(64-bits), int64(math.MaxInt64)>>(64-bits))
}
