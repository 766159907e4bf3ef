package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// zeroSweepBase has one element of every list whose elements hold
// numbers, so that the sweep reaches their keys.
const zeroSweepBase = `server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: x
    bindings: ["127.0.0.160:12025"]
    milters: [{name: m, address: "inet:127.0.0.160:12026"}]
    connection_filtering: {dnsbl: {lists: [{zone: bl.example.test}]}}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
`

// meaningfulZeros are the numeric keys whose written 0 is a setting of
// its own, each listed in the README's configuration reference ("The
// zeros with a meaning", or "0 = …" in the key's own entry). Any other
// numeric key written as 0 must be refused at its line: a zero kept and
// then read as "the default" or "no limit" by the code that uses it is
// the silent default the README promises never to make.
var meaningfulZeros = map[string]bool{
	"transport.delay_notification":                    true, // no delay notification
	"transport.retry_jitter":                          true, // no spread
	"transport.max_dumpster_size_per_database":        true, // no dumpster
	"transport.result_commit_delay":                   true, // commit at once
	"transport.quarantine.max_size":                   true, // no bound
	"transport.quarantine.max_messages":               true, // no bound
	"transport.space_reserve":                         true, // no space reserve
	"receive_connectors[0].max_acknowledgement_delay": true, // acknowledge at once
	"send_connectors[0].mx_address_limit":             true, // no bound
	"send_connectors[0].mx_session_limit":             true, // no bound
	"back_pressure.slow_delay":                        true, // no delay at medium
}

// TestEveryNumericZeroIsRefusedOrListed writes 0 for every numeric key
// of the configuration, one at a time (SPEC OPS config: a zero is never
// a silent default). Watermarks (high 0: not watched; normal and medium
// 0 are ordinary marks) and rate limit counts (0: no limit) are zeros
// of their own, listed in their sections.
func TestEveryNumericZeroIsRefusedOrListed(t *testing.T) {
	// A section that is off takes no defaults and uses none of its
	// numbers: it is swept switched on.
	sections := map[string]string{
		"":                              "",
		"ldap.":                         "ldap: {url: \"ldap://127.0.0.160:12389\", base_dn: \"dc=example,dc=test\"}\n",
		"outbound_tls.mta_sts_publish.": "outbound_tls: {mta_sts_publish: {listen: \"127.0.0.160:12443\", cert_file: c.pem, key_file: k.pem, mx: [mx.example.test]}}\n",
	}
	bases := map[string]*yaml.Node{}
	for prefix, extra := range sections {
		var base yaml.Node
		if err := yaml.Unmarshal([]byte(zeroSweepBase+extra), &base); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse([]byte(zeroSweepBase+extra), "z.yaml"); err != nil {
			t.Fatalf("base %q: %v", prefix, err)
		}
		bases[prefix] = &base
	}
	var keys []sweptKey
	numericKeys(reflect.TypeOf(Config{}), nil, &keys)
	var kept []string
	for _, key := range keys {
		path := key.path
		name := dotted(path)
		if strings.HasPrefix(name, "back_pressure.") && strings.Count(name, ".") == 2 ||
			strings.Contains(name, "rate_limits.") && !strings.HasSuffix(name, "_prefix") {
			continue
		}
		base := bases[""]
		for prefix, b := range bases {
			if prefix != "" && strings.HasPrefix(name, prefix) {
				base = b
			}
		}
		doc := cloneNode(base)
		line := setZero(doc, path)
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(out, "z.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "z.yaml:"+strconv.Itoa(line)+":") {
				t.Errorf("%s: 0 refused, but not at its line %d: %v", name, line, err)
			}
			continue
		}
		if meaningfulZeros[name] {
			continue
		}
		v := reflect.ValueOf(cfg).Elem()
		for _, p := range path {
			if i, ok := p.(int); ok {
				v = v.Index(i)
			} else {
				v = v.Field(yamlFieldIndex(v.Type())[p.(string)])
			}
		}
		kept = append(kept, name+" = "+formatValue(v))
	}
	sort.Strings(kept)
	for _, k := range kept {
		t.Errorf("%s: a written 0 is accepted, but it is neither refused at its line nor listed as a setting of its own", k)
	}
}

func dotted(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// numericKeys lists the paths of every integer, float, size and
// duration key (lists of structs at their first element).
type sweptKey struct{ path []any }

func numericKeys(t reflect.Type, path []any, out *[]sweptKey) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || tag == "" || !f.IsExported() {
			continue
		}
		p := append(append([]any{}, path...), tag)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			numericKeys(ft, p, out)
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Struct {
				numericKeys(ft.Elem(), append(p, 0), out)
			}
		case reflect.Int, reflect.Int64, reflect.Float64:
			*out = append(*out, sweptKey{path: p})

		}
	}
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, cloneNode(k))
	}
	return &c
}

// setZero writes key: 0 at path in doc (creating the mappings and list
// element it needs) and returns the line the key will have once the
// document is marshalled again.
func setZero(doc *yaml.Node, path []any) int {
	return setValue(doc, path, yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"})
}

// setValue is setZero with the value val.
func setValue(doc *yaml.Node, path []any, val yaml.Node) int {
	n := doc.Content[0]
	var keyNode *yaml.Node
	for i, p := range path {
		last := i == len(path)-1
		switch p := p.(type) {
		case int:
			n.Style = 0
			for len(n.Content) <= p {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
			n = n.Content[p]
		case string:
			n.Style = 0
			var next *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == p {
					next = n.Content[j+1]
					keyNode = n.Content[j]
				}
			}
			if next == nil {
				keyNode = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				if _, isIdx := pathElem(path, i+1).(int); isIdx {
					next = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				}
				n.Content = append(n.Content, keyNode, next)
			}
			if last {
				*next = val
			}
			n = next
		}
	}
	keyNode.HeadComment = "MARK"
	out, _ := yaml.Marshal(doc)
	keyNode.HeadComment = ""
	for i, l := range strings.Split(string(out), "\n") {
		if t := strings.TrimSpace(l); t == "# MARK" || t == "- # MARK" {
			return i + 1
		}
	}
	return -1
}

func pathElem(path []any, i int) any {
	if i < len(path) {
		return path[i]
	}
	return nil
}

// An empty value kept and read as the default by the code that uses it
// is refused as a zero is: a receive connector's banner: "" greeted
// with the default (the server name), silently.
func TestEmptyBannerIsRefused(t *testing.T) {
	_, err := Parse([]byte(zeroBase+"    banner: \"\"\n"), "z.yaml")
	if err == nil || !strings.Contains(err.Error(), `z.yaml:7: receive_connectors[0].banner: "" is refused`) {
		t.Errorf("banner: \"\": %v", err)
	}
	if _, err := Parse([]byte(zeroBase+"    banner: mx.example.test ESMTP\n"), "z.yaml"); err != nil {
		t.Errorf("a banner: %v", err)
	}
}
