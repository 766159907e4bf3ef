package config

import (
	"strings"
	"testing"
)

// rr39 (rt39 F3's reread): a size below its floor is told as the file
// wrote it. A value reached through a YAML alias (max_header_size: *s,
// the anchor &s 8KiB) was written with a unit, yet was told that "a
// size without a unit is bytes" (floorMsg read the alias node, not its
// value); a value written without a unit but with a sign (+256, which
// a size parses as 256 bytes) was told as written with one, and lost
// the advice that a size without a unit is bytes.
func TestSizeBelowFloorToldAsWrittenThroughAliasAndSign(t *testing.T) {
	head := "server: {name: a.example.test}\n"
	rc := "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for yaml, want := range map[string]string{
		head + rc + "transport:\n  spool_threshold: &s 8KiB\n  max_header_size: *s\n":                                       "c.yaml:5: transport.max_header_size 8KiB (8192 bytes) is below 16KiB, the least it may be",
		head + rc + "transport:\n  spool_threshold: +256\n":                                                                 "c.yaml:4: transport.spool_threshold 256 bytes is below 16KiB: a size without a unit is bytes (write e.g. 256KiB)",
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {max_message_size: +512}\n": "c.yaml:5: receive_connectors[0].limits.max_message_size 512 bytes is below 1000: a size without a unit is bytes",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
}
