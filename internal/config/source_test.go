package config

import (
	"strings"
	"testing"
)

// source_address (server and send connector) is one unicast IP address;
// anything else fails the load with file:line.
func TestSourceAddressValidated(t *testing.T) {
	_, err := Load("testdata/bad-source/bad-source-address.yaml")
	if err == nil || !strings.Contains(err.Error(), `bad-source-address.yaml:10: source_address "192.0.2.1:25" is not an IP address`) {
		t.Fatalf("error: %v", err)
	}
	if es, ok := err.(Errors); !ok || len(es) != 1 {
		t.Errorf("server.source_address 127.0.0.3 is valid; want only the connector's error, got %v", err)
	}
	for in, ok := range map[string]bool{"": true, "127.0.0.3": true, "2001:db8::1": true, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "fe80::1%eth0": false, "host.example": false, "10.0.0.1:25": false} {
		if got := checkSourceAddress(in) == ""; got != ok {
			t.Errorf("checkSourceAddress(%q) accepted=%v, want %v", in, got, ok)
		}
	}
}
