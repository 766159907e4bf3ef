package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"umbra/internal/mailaddr"
)

// connectorDuplicates refuses what a send connector lists twice (rt39
// F7), as a duplicate accepted domain or connector name is: an address
// space written twice — routing would take one of its costs and say
// nothing of the other — and a smart host written twice (the same host,
// in any letter case or with a final dot, and the same port; port ""
// is defaultPort, 0 where the port is not known here). Each is refused
// at the second's line, naming the first's. doc is the file's nodes;
// at is the connector's path.
func connectorDuplicates(v *validator, doc *yaml.Node, name string, spaces []AddressSpace, hosts []string, defaultPort int, at func(...any) []any) {
	seen := map[string]int{}
	for j, as := range spaces {
		k := mailaddr.DomainKey(as.Domain)
		if first, ok := seen[k]; ok {
			v.add(fmt.Sprintf("send connector %q: address space %q is listed twice (first %s, cost %d): a connector has one cost for an address space",
				name, writtenAt(doc, at("address_spaces", j, "domain"), as.Domain), where(doc, at("address_spaces", first, "domain"), "address_spaces", first),
				spaces[first].Cost), at("address_spaces", j, "domain")...)
			continue
		}
		seen[k] = j
	}
	seen = map[string]int{}
	for j, h := range hosts {
		host, port, err := mailaddr.SplitHostPort(h)
		if err != nil {
			continue // refused as it is
		}
		if port == "" && defaultPort > 0 {
			port = strconv.Itoa(defaultPort)
		}
		k := strings.ToLower(strings.TrimSuffix(host, ".")) + " " + port
		if first, ok := seen[k]; ok {
			v.add(fmt.Sprintf("send connector %q: smart host %q is listed twice (first %s)", name, h,
				where(doc, at("smart_hosts", first), "smart_hosts", first)), at("smart_hosts", j)...)
			continue
		}
		seen[k] = j
	}
}

// writtenAt is the scalar at path as the file writes it, else value.
func writtenAt(doc *yaml.Node, path []any, value string) string {
	if n, _ := nodeAt(doc, path); n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return value
}

// where names the setting at path by its line, else by its key and
// index.
func where(doc *yaml.Node, path []any, key string, i int) string {
	if line := lineOf(doc, path); line > 0 {
		return "at line " + strconv.Itoa(line)
	}
	return fmt.Sprintf("at %s[%d]", key, i)
}
