package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/routing"
)

// TestRT11ExplainTopologyFileOlderDaemonNotChecked (RT-11, OPS-3; rr
// ops39 F3): route explain --topology FILE asks the daemon to check
// FILE's smart hosts (?hosts=given&smart_host=…). A daemon of an older
// release ignores the query and answers for the smart hosts of the
// topology it runs: its answer — here a loop FILE does not have — is
// not shown as FILE's; the self-check says FILE's next hops were not
// checked, and why.
func TestRT11ExplainTopologyFileOlderDaemonNotChecked(t *testing.T) {
	dir, err := os.MkdirTemp("", "umbra-old") // a short path: a Unix socket's is bounded
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An older release's handler: the path only, its query unread.
		w.Header().Set(admin.AdminHeader, "1")
		if !strings.HasPrefix(r.URL.Path, "/v1/selfcheck/") {
			http.NotFound(w, r)
			return
		}
		asked = append(asked, r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"self": "hub.test[127.0.0.218]:45620", "loops": true,
			"reply": "451 4.4.6 mail for remote.test loops back to myself", "tried": []string{}})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := &config.Config{Server: config.Server{Name: "hub.test"}}
	routes := []routing.Route{{Recipient: "x@remote.test", NextHops: []routing.NextHop{{Kind: routing.HopConnector, Connector: "out"}}}}
	fileHosts := func(string) []string { return []string{"127.0.0.218:15621"} }
	out := explainSelf(admin.NewClient(sock), "", fileHosts, cfg, "hub.test", routes)
	if len(asked) != 1 || !strings.Contains(asked[0], "hosts=given") {
		t.Fatalf("the daemon was asked %q, want one self-check of the hosts given", asked)
	}
	if len(out) != 1 || out[0].Self != "" || out[0].Loops || !strings.Contains(out[0].Note, "not checked") {
		t.Fatalf("self %+v: an older daemon's check of the topology it runs is shown as FILE's; want FILE's next hops said not checked", out)
	}
}
