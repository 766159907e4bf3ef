package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A zero or empty value written in the file is either a setting of its
// own — its meaning documented in the README's configuration reference
// (delay_notification: 0 sends no delay notification, max_dumpster_size_per_database: 0
// keeps no dumpster, max_acknowledgement_delay: 0s acknowledges at once,
// retry_jitter: 0 spreads no retry, …; those fields get their default
// before decoding, newWithPresets) — or a configuration error with its
// line. It is never replaced by the default after decoding, silently:
// an operator who wrote message_expiration: 0s and got 48h was not told.
//
// Rather than a list of such fields to keep in step with applyDefaults,
// the check is made on what applyDefaults does: every field the file
// sets to a zero or empty value is remembered after decoding, and one
// that applyDefaults then changed is reported (explicitZeros,
// replacedZeros). A new defaulted field is covered without a line here.

// zeroReasons says why a zero is refused where the generic message is
// not enough: the values an operator may read as "never" or "none".
var zeroReasons = map[string]string{
	"transport.message_expiration": "a message must expire: 0 does not mean never (delay_notification: 0 does mean " +
		"no delay notification); write the longest time a message may wait, e.g. 5d",
	"transport.retry_schedule":               "a message that must wait needs at least one wait",
	"transport.shadow_heartbeat_retry_count": "a takeover follows at least one failed heartbeat; 0 does not mean never take over",
	"transport.shadow_heartbeat_timeout":     "a heartbeat needs a time to wait for its answer",
	"transport.max_active":                   "0 does not mean unlimited",
	"remote_ranges":                          "an empty list does not admit nobody; list the ranges this connector serves",
}

// explicitZero is a field the file set to a zero or empty value.
type explicitZero struct {
	field   reflect.Value // addressable, in the decoded Config
	path    []any         // for lineOf
	name    string        // dotted, for the message
	written string        // as written
	// kept: written as an empty value (~, null) on a key whose preset
	// (newWithPresets, a type's UnmarshalYAML) the decoder kept, so the
	// field is not empty after decoding: the default, taken silently
	// where "" is refused (rrops40).
	kept bool
}

// explicitZeros walks the document alongside the decoded config and
// returns the fields it sets to zero or empty values (not sections:
// an empty section means its defaults).
func explicitZeros(doc *yaml.Node, c *Config) []explicitZero {
	var out []explicitZero
	walkZeros(doc, reflect.ValueOf(c).Elem(), nil, "", &out)
	return out
}

func walkZeros(n *yaml.Node, v reflect.Value, path []any, name string, out *[]explicitZero) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		idx := yamlFieldIndex(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			fi, ok := idx[k.Value]
			if !ok {
				continue
			}
			f := v.Field(fi)
			p := append(append([]any{}, path...), k.Value)
			fname := k.Value
			if name != "" {
				fname = name + "." + k.Value
			}
			if f.Kind() != reflect.Struct && isEmptyValue(f) {
				*out = append(*out, explicitZero{field: f, path: p, name: fname, written: writtenValue(val)})
				continue
			}
			if f.Kind() != reflect.Struct && isNull(val) {
				*out = append(*out, explicitZero{field: f, path: p, name: fname, written: writtenValue(val), kept: true})
				continue
			}
			walkZeros(val, f, p, fname, out)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			if i < v.Len() {
				walkZeros(c, v.Index(i), append(append([]any{}, path...), i), fmt.Sprintf("%s[%d]", name, i), out)
			}
		}
	}
}

// replacedZeros reports the fields of zs that applyDefaults changed.
func replacedZeros(zs []explicitZero) []violation {
	var vs []violation
	for _, z := range zs {
		if isEmptyValue(z.field) {
			continue
		}
		why := zeroReasons[z.name]
		if why == "" {
			why = zeroReasons[z.name[strings.LastIndexByte(z.name, '.')+1:]]
		}
		if why == "" {
			why = "it is not a setting of its own"
		}
		vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s is refused: %s; without the key umbra uses the default, %s",
			z.name, z.written, why, formatValue(z.field))})
	}
	return vs
}

// isNull: n is an empty value (~, null, or nothing after the colon).
func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}

func writtenValue(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "[]"
	case n.Kind == yaml.MappingNode:
		return "{}"
	case n.Tag == "!!null":
		return "an empty value"
	case n.Value == "":
		return `""`
	}
	return n.Value
}

func formatValue(v reflect.Value) string {
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return s.String()
	}
	switch x := v.Interface().(type) {
	case Size:
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if int64(x) >= u.mult && int64(x)%u.mult == 0 {
				return strconv.FormatInt(int64(x)/u.mult, 10) + u.suffix
			}
		}
		return strconv.FormatInt(int64(x), 10) + " bytes"
	case []Duration:
		parts := make([]string, len(x))
		for i, d := range x {
			parts[i] = d.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// yamlFieldIndex maps a struct's YAML keys to field indexes (as
// yamlFields does to types).
func yamlFieldIndex(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		out[tag] = i
	}
	return out
}

// zeroCosts refuses every cost the file writes as 0 (item 4 of the
// topology sweep): a cost is a positive number. Routing read a written
// 0 as something else — the cheapest address space, no umbra_cost
// override, a routing group connector of cost 1 — and an operator who
// wrote it meant none of them for certain. Without the key each keeps
// its documented default. A negative cost is refused by the range
// checks.
func zeroCosts(zs []explicitZero) []violation {
	var vs []violation
	for _, z := range zs {
		key := z.name[strings.LastIndexByte(z.name, '.')+1:]
		if key != "cost" && key != "umbra_cost" || strings.HasPrefix(z.name, "site_links") && key == "cost" {
			continue // a site link's cost has its own range check
		}
		vs = append(vs, violation{path: z.path, msg: costRefused(z.name, z.written)})
	}
	return vs
}

// MaxAddressSpaceCost is the highest cost of an address space.
const MaxAddressSpaceCost = 100

// costRefused is the one refusal of a cost written out of its range, 0
// included (zeroCosts, and the range checks of validate and
// validateTopology): the key's path, the value as written, the range,
// and what leaving the key out gives (opsrt40 F6: a 0 and a -1 were
// told two different ranges, one without the key).
func costRefused(name, written string) string {
	what, max, without := "an address space cost", MaxAddressSpaceCost, "the cost is 0, before every written one"
	switch {
	case strings.HasSuffix(name, ".umbra_cost"):
		what, max, without = "a site link's umbra_cost", MaxTopoLinkCost, "cost applies"
	case strings.HasPrefix(name, "routing_group_connectors"):
		what, max, without = "a routing group connector's cost", MaxTopoRGCCost, fmt.Sprintf("the cost is %d", DefaultRGCCost)
	}
	return fmt.Sprintf("%s: %s is refused: %s is 1 to %d; without the key %s", name, written, what, max, without)
}

// zeroSizes refuses a zero written where umbra keeps it and the code
// that uses it reads 0 as something the operator did not write, so
// replacedZeros (which sees only what applyDefaults changes) does not
// see it:
//   - max_message_size (a send connector's, a topology link's or
//     connector's): 0 read as "no limit", which an operator who wrote 0
//     (or 0MiB) may have meant as "none may pass" or a unit slip;
//     without the key there is no limit;
//   - a receive connector's banner: "" read as "none of its own", the
//     greeting then the default (the server name);
//   - a send connector's max_connections: 0 read as "none of its own",
//     the destination then growing to transport.
//     max_connections_per_destination — the default, silently; 0 is no
//     "unlimited" or "none" either. Without the key that limit applies.
//
// TestEveryNumericZeroIsRefusedOrListed writes 0 for every numeric key
// and holds each to being refused at its line or listed in the README
// as a setting of its own.
func zeroSizes(zs []explicitZero) []violation {
	var vs []violation
	for _, z := range zs {
		if !isEmptyValue(z.field) {
			continue
		}
		switch {
		case strings.HasSuffix("."+z.name, ".max_message_size"):
			vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s is refused: 0 does not mean unlimited; without the key there is no limit here", z.name, z.written)})
		case strings.HasPrefix(z.name, "receive_connectors[") && strings.HasSuffix(z.name, "].banner"):
			vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s is refused: an empty banner is no greeting of its own; "+
				"without the key the greeting is the server name", z.name, z.written)})
		case strings.HasPrefix(z.name, "send_connectors[") && strings.HasSuffix(z.name, "].max_connections"):
			vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s is refused: 0 does not mean unlimited or none; "+
				"without the key the limit is transport.max_connections_per_destination", z.name, z.written)})
		}
	}
	return vs
}

// derivedAtUse are the string keys whose empty value is not replaced by
// applyDefaults but derived where it is used (so replacedZeros does not
// see them): an explicit "" written for one is refused as any other
// zero that is no setting of its own, naming what leaving the key out
// gives.
var derivedAtUse = map[string]string{
	"console.cert_file":        "the first receive connector's TLS certificate",
	"console.key_file":         "the first receive connector's TLS key",
	"console.credentials_file": "the first receive connector's auth.credentials_file",
	"dkim.arc.authserv_id":     "server.name",
}

// emptyDerived reports the fields of zs that are derivedAtUse and
// written empty.
func emptyDerived(zs []explicitZero) []violation {
	var vs []violation
	for _, z := range zs {
		what, ok := derivedAtUse[z.name]
		if !ok || !isEmptyValue(z.field) {
			continue
		}
		said := z.written + " is refused: an empty value"
		if z.written == "an empty value" { // a YAML null: nothing after the key
			said = "the key has no value, which"
		}
		vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s is not a setting of its own; without the key umbra uses %s",
			z.name, said, what)})
	}
	return vs
}
