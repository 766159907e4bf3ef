package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/resolver"
)

// A connector whose message_authentication runs a check gets the
// msgauth check, asking the server's resolver (no resolver: an error,
// never the system's DNS); one without the block gets none; a reload's
// build registers no metric twice.
func TestEdgeChecksBuildMessageAuthentication(t *testing.T) {
	cfg, err := config.Parse([]byte(`server: {name: mx.example.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:25"]
    message_authentication: {profile: internet}
  - name: internal
    bindings: ["127.0.0.1:26"]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEdgeChecks(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), clock.Real{})
	if _, err := e.build(cfg.ReceiveConnectors[0]); err == nil {
		t.Fatal("message authentication built without the server's resolver")
	}
	res, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.1:53"}})
	if err != nil {
		t.Fatal(err)
	}
	e.dns = res
	for range 2 { // start, then a reload
		in, err := e.build(cfg.ReceiveConnectors[0])
		if err != nil || len(in) != 1 || in[0].Name() != "msgauth" {
			t.Fatalf("internet: %v %v", in, err)
		}
		internal, err := e.build(cfg.ReceiveConnectors[1])
		if err != nil || len(internal) != 0 {
			t.Fatalf("internal: %v %v", internal, err)
		}
	}
}
