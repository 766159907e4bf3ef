package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3: with --json, a command's refusal is also one JSON object on
// standard output ({"error", "exit"}), and its error was written there
// raw — the one output of a configuration's errors not by their text
// rule (errorText): a file name's byte that is not UTF-8 came out as
// U+FFFD, which hides which byte it was, where standard error, config
// check, serve, the log and the status write \xNN; a value the loader
// quoted stays escaped once.
func TestOPS3JSONRefusalByTheTextRule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf\xff")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.jsontext.test, data_dir: `+filepath.Join(filepath.Dir(dir), "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
`+submitConnector("in", "127.0.0.143:9025", `banner: "a\0b"`)), 0o600)
	cmd := exec.Command(umbraBin, "route", "explain", "--json", "--config", cfg, "x@example.test")
	cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
	out, _ := cmd.Output()
	var res struct {
		Error string `json:"error"`
		Exit  int    `json:"exit"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Exit == 0 {
		t.Fatalf("route explain --json of an invalid file: %v\n%s", err, out)
	}
	if !strings.Contains(res.Error, `conf\xff/hub.yaml:`) || !strings.Contains(res.Error, `banner "a\x00b"`) ||
		strings.Contains(res.Error, "\ufffd") || strings.Contains(res.Error, `\\x`) {
		t.Errorf("error %q: want the file named conf\\xff/hub.yaml and the banner \"a\\x00b\", each escaped once", res.Error)
	}
}

// OPS-3: route explain's warning of what the daemon's next reload
// would refuse (next_reload_errors with --json) wrote the loader's
// errors raw: a topology file's name with a byte that is not UTF-8 (in
// the configuration's directory) came out as U+FFFD in the JSON. By
// the same text rule as every output of a configuration's errors.
func TestOPS3RouteExplainNextReloadErrorsByTheTextRule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf\xff")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hubAddr, legacyAddr := addr39k(t, "127.0.0.145"), addr39k(t, "127.0.0.146")
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(legacyTopology(hubAddr, legacyAddr, "\n    cost: 3", "alice@old.test")), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.topo.test, data_dir: `+filepath.Join(filepath.Dir(dir), "data")+`, metrics_listen: ""}
accepted_domains: [{domain: old.test, type: authoritative}]
`+submitConnector("in", hubAddr, "max_acknowledgement_delay: 0s")+`mailbox: {maildir: maildir}
topology: topology.yaml
`), 0o600)
	d := startUmbra(t, cfg, hubAddr)
	d.dumpLogIfFailed()
	editConfig(t, topo, "{name: hub.topo.test, role: hub, site: a,", "{name: hub.topo.test, role: hub, site: aa,")
	t.Setenv("UMBRA_SOCKET", "")
	all, out, code := runBounded(t, "route", "explain", "--json", "--config", cfg, "alice@old.test")
	var ex struct {
		NextReloadErrors []string `json:"next_reload_errors"`
	}
	if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil || len(ex.NextReloadErrors) == 0 {
		t.Fatalf("route explain --json: exit %d, %v\n%s", code, err, all)
	}
	got := strings.Join(ex.NextReloadErrors, "\n")
	if !strings.Contains(got, `conf\xff/topology.yaml:3:`) || strings.Contains(got, "\ufffd") {
		t.Errorf("next_reload_errors %q: want the topology file named conf\\xff/topology.yaml, its byte escaped once", ex.NextReloadErrors)
	}
}

// OPS-4: track asks the daemon where its tracking log is (GET
// /v1/status tracking_path) and searched the name as the answer writes
// it, by the answers' text rule: a log in a directory whose name holds
// a byte that is not UTF-8 (\xff written as the text \xff) was looked
// for under a name that does not exist. The name is read back as it is.
func TestOPS4TrackFindsTheDaemonsLogByItsExactName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf\xff")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	listen := addr39k(t, "127.0.0.147")
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.tracktext.test, data_dir: data, metrics_listen: ""}
accepted_domains: [{domain: remote.example, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
`+submitConnector("in", listen)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if acked := sendMany(listen, "tracked", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("%d of 1 acknowledged", len(acked))
	}
	sock := filepath.Join(dir, "data", "admin.sock")
	t.Setenv("UMBRA_SOCKET", "")
	var all string
	code := -1
	for i := 0; i < 100; i++ {
		all, _, code = runBounded(t, "track", "--socket", sock, "--event", "receive")
		if code == 0 && strings.Contains(all, "receive") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("track --socket: exit %d, want the daemon's receive event:\n%s", code, all)
}
