package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// topoEmptyBase is a topology with one element of every list, each
// key written, so that the sweep reaches every key of the file.
const topoEmptyBase = `sites:
  - {name: s1, subnets: ["10.1.0.0/16"]}
  - {name: s2, subnets: ["10.2.0.0/16"]}
site_links:
  - {name: l1, sites: [s1, s2], cost: 10, umbra_cost: 5, max_message_size: 10MiB}
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: "10.1.0.10:25", version: 1, source_addresses: ["10.1.1.10"]}
  - {name: hub2.example.test, role: hub, site: s2, address: "10.2.0.10:25"}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: "10.1.0.20:24"}
  - {name: exch.example.test, role: legacy, routing_group: first, address: "10.9.0.5:25"}
mailbox_databases:
  - {name: DB1, server: mbx1.example.test}
recipients:
  - {match: g@example.test, members: [a@example.test], expansion_site: s1}
  - {match: example.test, database: DB1, addresses: [a@example.test]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 10}], source_servers: [hub1.example.test], scope: site, smart_hosts: ["mx.example.net"], max_message_size: 10MiB, enabled: true}
routing_group_connectors:
  - {name: rgc, groups: [modern, first], cost: 1, max_message_size: 10MiB, source_servers: [hub1.example.test]}
`

// meaningfulTopoEmpties are the topology keys whose empty value is a
// setting of its own, listed in the README. None: every key written
// empty ("" or a YAML null) or as version 0 must be refused at its line.
var meaningfulTopoEmpties = map[string]bool{}

// topoKeys lists the paths of every key of the topology (lists of
// structs at their first element).
func topoKeys(t reflect.Type, path []any, out *[][]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || tag == "" || !f.IsExported() {
			continue
		}
		p := append(append([]any{}, path...), tag)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			topoKeys(ft.Elem(), append(p, 0), out)
			continue
		}
		*out = append(*out, p)
	}
}

// OPS config, RT-1 (opsrt40 F2, F3; README "A zero or empty value is
// never silently replaced by the default"): every key of the topology
// file written empty — "" or a YAML null (~, or nothing after the
// colon) — is refused at its line, as is a server's version: 0: a
// send connector's scope: "" made a site-scoped connector
// organisation-wide, a server's site: "" and version: 0 silently meant
// the default.
func TestOPSTopologyEmptyValueRefusedAtItsLine(t *testing.T) {
	var base yaml.Node
	if err := yaml.Unmarshal([]byte(topoEmptyBase), &base); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTopology([]byte(topoEmptyBase), "topo.yaml"); err != nil {
		t.Fatalf("base: %v", err)
	}
	var keys [][]any
	topoKeys(reflect.TypeOf(Topology{}), nil, &keys)
	values := []yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle},
		{Kind: yaml.ScalarNode, Tag: "!!null", Value: "~"},
	}
	var kept []string
	check := func(name string, path []any, val yaml.Node) {
		doc := cloneNode(&base)
		line := setValue(doc, path, val)
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseTopology(out, "topo.yaml"); err != nil {
			if !strings.Contains(err.Error(), "topo.yaml:"+strconv.Itoa(line)+":") {
				t.Errorf("%s: %s refused, but not at its line %d: %v", name, val.Value, line, err)
			}
			return
		}
		if !meaningfulTopoEmpties[name] {
			kept = append(kept, name+": "+val.Value)
		}
	}
	for _, path := range keys {
		name := dotted(path)
		for _, v := range values {
			check(name, path, v)
		}
	}
	check("servers[0].version", []any{"servers", 0, "version"}, yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"})
	sort.Strings(kept)
	for _, k := range kept {
		t.Errorf("%s is accepted, but it is neither refused at its line nor listed as a setting of its own", k)
	}
}

// RT-8, OPS config (opsrt40 F3): a hub's version: 0 is refused at its
// own line, and the mailbox server of version 2 in its site is not
// blamed for a hub "of version 2" missing: the hub's version is the
// line to change. A send connector's scope: "" is refused at its line
// with the words to write (F2).
func TestOPSTopologyVersionZeroBlamesItsOwnLine(t *testing.T) {
	const topo = `sites:
  - {name: s1, subnets: ["10.1.0.0/16"]}
servers:
  - {name: hub1.example.test, role: hub, address: "10.1.0.10:25", version: 0}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: "10.1.0.20:24", version: 2}
mailbox_databases:
  - {name: DB1, server: mbx1.example.test}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub1.example.test], scope: ""}
`
	_, err := ParseTopology([]byte(topo), "topo.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	want := "topo.yaml:4: servers[0].version: 0 is refused: a version is 1 to 1000; without the key the version is 1\n" +
		"topo.yaml:9: send_connectors[0].scope: \"\" is empty: write organisation or site, or leave the key out"
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// ops49 F5: a key written with no value at all (`site_links:` emptied)
// said "site_links: an empty value is empty: …". The sentence says what
// was written, for every key.
func TestTopologyKeyWithNoValueSaysSo(t *testing.T) {
	const topo = `sites:
  - {name: s1, subnets: ["10.1.0.0/16"]}
site_links:
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: "10.1.0.10:25", version: 2}
`
	_, err := ParseTopology([]byte(topo), "topo.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	if strings.Contains(got, "an empty value is empty") || !strings.Contains(got, "topo.yaml:3: site_links: the key has no value: write a value, or leave the key out") {
		t.Errorf("got\n%s", got)
	}
}

// ops49 F5: a server's site misspelt (sbb for sb) is one mistake: the
// unknown site is the error; "is given site sbb, but its address is in
// a subnet of site sb" only follows from it and is not said as a
// second one.
func TestTopologyUnknownSiteIsOneError(t *testing.T) {
	const topo = `sites:
  - {name: sa, subnets: ["127.0.0.204/32"]}
  - {name: sb, subnets: ["127.0.0.207/32"]}
site_links:
  - {name: a-b, sites: [sa, sb], cost: 10}
servers:
  - {name: hub1.ops.test, role: hub, site: sa, address: "127.0.0.204:11620", version: 2}
  - {name: hub2.ops.test, role: hub, site: sbb, address: "127.0.0.207:11600", version: 2}
`
	_, err := ParseTopology([]byte(topo), "topo.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	if !strings.Contains(got, `topo.yaml:8: server "hub2.ops.test" is in unknown site "sbb"`) || strings.Contains(got, "is given site") {
		t.Errorf("got\n%s", got)
	}
}

// ops49 F5: a site link that names a misspelt site leaves the real one
// unreachable; the reachability error says it may only follow from the
// unknown site.
func TestTopologyUnreachableSiteNamesTheUnknownLinkSite(t *testing.T) {
	const topo = `sites:
  - {name: sa, subnets: ["127.0.0.204/32"]}
  - {name: sb, subnets: ["127.0.0.207/32"]}
site_links:
  - {name: a-b, sites: [sa, sbb], cost: 10}
servers:
  - {name: hub1.ops.test, role: hub, site: sa, address: "127.0.0.204:11620", version: 2}
`
	_, err := ParseTopology([]byte(topo), "topo.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	if got := err.Error(); !strings.Contains(got, `site "sb" cannot be reached from site "sa" over site links (site link "a-b" names unknown site "sbb": this may only follow from that)`) {
		t.Errorf("got\n%s", got)
	}
}
