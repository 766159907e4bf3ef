package config

import (
	"strings"
	"testing"
)

// rt45 F4's siblings (paths12): a size or rate written without its unit
// is bytes (per second), and where such a value would refuse all mail of
// a kind or switch a protection off it is refused at its line, naming
// the unit. 0 keeps its meaning (no bound, off) where it has one.
func TestSizesAndRatesInTheWrongUnitRefused(t *testing.T) {
	head := "server: {name: a.example.test}\n"
	rc := "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for yaml, want := range map[string]string{
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {min_data_rate: 4}\n": "c.yaml:5: receive_connectors[0].limits.min_data_rate 4 bytes per second is below 100: a rate without a unit is bytes per second (write e.g. 4KiB)",
		head + rc + "transport:\n  quarantine:\n    max_size: 2\n":                                                    "c.yaml:5: transport.quarantine.max_size 2 bytes is below 1MiB: a size without a unit is bytes (write e.g. 2GiB)",
		head + rc + "transport:\n  max_dumpster_size_per_database: 18\n":                                              "c.yaml:4: transport.max_dumpster_size_per_database 18 bytes is below 1MiB: a size without a unit is bytes (write e.g. 18MiB)",
		head + rc + "transport:\n  body_memory_limit: 256\n":                                                          "c.yaml:4: transport.body_memory_limit 256 bytes is below 1MiB: a size without a unit is bytes (write e.g. 256MiB)",
		head + rc + "transport:\n  max_header_size: 1000\n":                                                           "c.yaml:4: transport.max_header_size 1000 bytes is below 16KiB: a size without a unit is bytes (write e.g. 1000KiB)",
		head + rc + "transport:\n  max_header_size: 64\n":                                                             "c.yaml:4: transport.max_header_size 64 bytes is below 16KiB: a size without a unit is bytes (write e.g. 64KiB)",
		head + rc + "tracking:\n  max_size: 100\n":                                                                    "c.yaml:4: tracking.max_size 100 bytes is below 4KiB: a size without a unit is bytes (write e.g. 100MiB)",
		head + rc + "tracking:\n  max_files: -1\n":                                                                    "c.yaml:4: tracking.max_files -1 is outside its range: a whole number from 1 to 1000; 0 or absent: the default",
		// A spool threshold of a few bytes spools every body (a file and
		// its fsync per message); a bounce size limit of a few bytes
		// returns no message whole, not even a short one.
		head + rc + "transport:\n  spool_threshold: 256\n":  "c.yaml:4: transport.spool_threshold 256 bytes is below 16KiB: a size without a unit is bytes (write e.g. 256KiB)",
		head + rc + "transport:\n  bounce_size_limit: 50\n": "c.yaml:4: transport.bounce_size_limit 50 bytes is below 4KiB: a size without a unit is bytes (write e.g. 50KiB)",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
	// The floors themselves, the defaults and 0 where it means off load.
	for _, yaml := range []string{
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {min_data_rate: 100}\n",
		head + rc + "transport:\n  quarantine: {max_size: 0}\n  max_dumpster_size_per_database: 0\n",
		head + rc + "transport:\n  quarantine: {max_size: 1MiB}\n  max_dumpster_size_per_database: 1MiB\n  body_memory_limit: 1MiB\n  max_header_size: 16KiB\n",
		head + rc + "tracking:\n  max_size: 4KiB\n",
		head + rc + "transport:\n  spool_threshold: 16KiB\n  bounce_size_limit: 4KiB\n",
		head + rc,
	} {
		if _, err := Parse([]byte(yaml), "c.yaml"); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}

// A duration needs its unit, so the likely slip is a sub-second one
// (300ms for 300s): a session limit or an outbound timeout below a
// second cuts every session or delivery. Refused at its line.
func TestSubSecondSessionTimeoutsRefused(t *testing.T) {
	head := "server: {name: a.example.test}\n"
	rc := "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for yaml, want := range map[string]string{
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {idle_timeout: 300ms}\n":             "c.yaml:5: receive_connectors[0].limits.idle_timeout 300ms is below 1s",
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits:\n      max_transaction_time: 10ms\n": "c.yaml:6: receive_connectors[0].limits.max_transaction_time 10ms is below 1s",
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits:\n      max_data_time: 300ms\n":       "c.yaml:6: receive_connectors[0].limits.max_data_time 300ms is below 1s",
		head + rc + "transport:\n  connect_timeout: 30ms\n":                                                                          "c.yaml:4: transport.connect_timeout 30ms is below 1s",
		head + rc + "transport:\n  command_timeout: 300ms\n":                                                                         "c.yaml:4: transport.command_timeout 300ms is below 1s",
		head + rc + "transport:\n  data_timeout: 600ms\n":                                                                            "c.yaml:4: transport.data_timeout 600ms is below 1s",
		// rt53 R5: a heartbeat timeout below a second takes every
		// primary over (a duplicate of its mail); an expiry or a retry
		// step below a second bounces or hammers.
		head + rc + "transport:\n  shadow_heartbeat_timeout: 300ms\n": "c.yaml:4: transport.shadow_heartbeat_timeout 300ms is below 1s",
		head + rc + "transport:\n  message_expiration: 900ms\n":       "c.yaml:4: transport.message_expiration 900ms is below 1s",
		head + rc + "transport:\n  retry_schedule: [1s, 300ms]\n":     "c.yaml:4: transport.retry_schedule[1] 300ms is below 1s",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
	if _, err := Parse([]byte(head+"receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {idle_timeout: 1s, max_transaction_time: 1s}\ntransport: {connect_timeout: 1s, command_timeout: 1s, data_timeout: 1s}\n"), "c.yaml"); err != nil {
		t.Errorf("one second each: %v", err)
	}
}

// rt39 F3: a size written with its unit and below its floor is told as
// written and with the floor, never that "a size without a unit is
// bytes" — the operator wrote one (20KiB of dumpster was told to write
// e.g. 18MiB because a size without a unit is bytes). Every floor of a
// size or rate alike.
func TestSizeWithUnitBelowFloorToldAsWritten(t *testing.T) {
	head := "server: {name: a.example.test}\n"
	rc := "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for yaml, want := range map[string]string{
		head + rc + "transport:\n  max_dumpster_size_per_database: 20KiB\n":                                                 "c.yaml:4: transport.max_dumpster_size_per_database 20KiB (20480 bytes) is below 1MiB, the least it may be",
		head + rc + "transport:\n  quarantine:\n    max_size: 512KiB\n":                                                     "c.yaml:5: transport.quarantine.max_size 512KiB (524288 bytes) is below 1MiB, the least it may be",
		head + rc + "transport:\n  body_memory_limit: 900 KB\n":                                                             "c.yaml:4: transport.body_memory_limit 900 KB (900000 bytes) is below 1MiB, the least it may be",
		head + rc + "transport:\n  max_header_size: 8KiB\n":                                                                 "c.yaml:4: transport.max_header_size 8KiB (8192 bytes) is below 16KiB, the least it may be",
		head + rc + "transport:\n  spool_threshold: 8KiB\n":                                                                 "c.yaml:4: transport.spool_threshold 8KiB (8192 bytes) is below 16KiB, the least it may be",
		head + rc + "transport:\n  bounce_size_limit: 2KiB\n":                                                               "c.yaml:4: transport.bounce_size_limit 2KiB (2048 bytes) is below 4KiB, the least it may be",
		head + rc + "tracking:\n  max_size: 2KB\n":                                                                          "c.yaml:4: tracking.max_size 2KB (2000 bytes) is below 4KiB, the least it may be",
		head + rc + "transport:\n  max_dumpster_size_per_database: 512B\n":                                                  "c.yaml:4: transport.max_dumpster_size_per_database 512B (512 bytes) is below 1MiB, the least it may be",
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {min_data_rate: 50B}\n":     "c.yaml:5: receive_connectors[0].limits.min_data_rate 50B (50 bytes per second) is below 100 bytes per second, the least it may be",
		head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {max_message_size: 512B}\n": "c.yaml:5: receive_connectors[0].limits.max_message_size 512B (512 bytes) is below 1000 bytes, the least message size limit",
		head + rc + "back_pressure:\n  database_size: {normal: 100KiB, medium: 200KiB, high: 300KiB}\n":                     "back_pressure.database_size.normal 100KiB (102400 bytes) is below 1MiB, the least database size mark",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "without a unit") {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
	// A topology's size floor alike.
	topo := "sites: [{name: a}, {name: b}]\nsite_links:\n  - {name: a-b, sites: [a, b], cost: 10, max_message_size: 512B}\n"
	if _, err := ParseTopology([]byte(topo), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:3: site link max_message_size 512B (512 bytes) is below 1000 bytes") ||
		strings.Contains(err.Error(), "without a unit") {
		t.Errorf("topology: %v", err)
	}
}
