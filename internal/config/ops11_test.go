package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rt45 F3: a second YAML document after a "---" line was dropped without
// a word (even invalid YAML): config check said ok and a reload reported
// success. It is refused at the line of its "---", in the configuration
// and in the topology file.
func TestSecondDocumentRefused(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for name, tc := range map[string]struct{ data, want string }{
		"valid second":     {base + "---\ntransport:\n  message_expiration: 5m\n", "c.yaml:3: a second YAML document begins here"},
		"invalid second":   {base + "# pasted\n---\ntransport:\n  message_expiration: 5m\nthis is: [not, valid yaml\n", "c.yaml:4: a second YAML document begins here"},
		"leading marker":   {"---\n" + base + "---\nx: 1\n", "c.yaml:4: a second YAML document begins here"},
		"after end marker": {base + "...\nx: 1\n", "c.yaml:4: a second YAML document begins here"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// rt24c F12: after a "..." line the advice names that line, never a
	// "---" line the file does not have; a "---" after the "..." is
	// named as well.
	for name, tc := range map[string]struct{ data, want, not string }{
		"valid second":     {base + "---\nx: 1\n", `c.yaml:3: a second YAML document begins here: a file holds one document (remove this "---" line and merge what follows into the first)`, "..."},
		"after end marker": {base + "# c\n...\n\nx: 1\n", `c.yaml:6: a second YAML document begins here, after the document end "..." at line 4: a file holds one document (remove the "..." line and merge what follows into the first)`, "---"},
		"end then start":   {base + "...\n---\nx: 1\n", `c.yaml:4: a second YAML document begins here, after the document end "..." at line 3: a file holds one document (remove the "..." line and this "---" line and merge what follows into the first)`, ""},
	} {
		t.Run("advice "+name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.not != "" && strings.Contains(err.Error(), `"`+tc.not+`"`)) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// One document opened by "---" and closed by "..." is one document.
	if _, err := Parse([]byte("---\n"+base+"...\n# trailing comment\n"), "c.yaml"); err != nil {
		t.Fatalf("one document with markers: %v", err)
	}
	topo := "sites: [{name: a}]\n---\nservers: 12\n"
	if _, err := ParseTopology([]byte(topo), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:2: a second YAML document begins here") {
		t.Fatalf("topology with a second document: %v", err)
	}
}

// rt45 F7: "2days" was refused as `invalid duration "ays"`, a fragment.
// The whole value written is named, with the units accepted.
func TestDurationErrorNamesTheWholeValue(t *testing.T) {
	for _, in := range []string{"2days", "1d2x", "3 weeks", "5min", "xd"} {
		_, err := ParseDuration(in)
		if err == nil {
			t.Fatalf("ParseDuration(%q) succeeded", in)
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) || !strings.Contains(err.Error(), "units s, m, h, d") {
			t.Errorf("ParseDuration(%q): %v", in, err)
		}
	}
}

// rt45 F2: tracking.path may not name a file umbra reads or owns
// otherwise: the log was appended into queue.db and its rotation renamed
// the live database. Compared after resolving relative paths and
// symbolic links, for the log and each of its rotations; refused at the
// tracking.path line by Parse (config check, serve and reload).
func TestTrackingPathNeverAnOwnedFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "spool"), 0o700)
	os.WriteFile(filepath.Join(data, "queue.db"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "recips"), []byte("a@example.test\n"), 0o600)
	os.Symlink(filepath.Join(data, "queue.db"), filepath.Join(dir, "link.log"))
	cfgFile := filepath.Join(dir, "c.yaml")
	head := "server: {name: h.example.test, data_dir: data}\n" +
		"receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n" +
		"recipients: {file: recips}\n" +
		"tracking:\n"
	for name, tc := range map[string]struct{ path, want string }{
		"database relative":  {"queue.db", "is the transport database"},
		"database via dir":   {"../data/./queue.db", "is the transport database"},
		"database via link":  {"../link.log", "is the transport database"},
		"recipients file":    {"../recips", "is recipients.file"},
		"configuration":      {"../c.yaml", "is the configuration file"},
		"rotation":           {"queue", "its rotation"},
		"spool":              {"spool/t.log", "is inside the spool directory"},
		"peer wait slots":    {"peerwait.slots", "is the peer wait slot file"},
		"admin socket":       {"umbra.sock", "is server.admin_socket"},
		"absolute recipient": {filepath.Join(dir, "recips"), "is recipients.file"},
		// What db compact and db restore leave, removed at start (rt53 R2).
		"compaction copy": {"queue.db.compact", "the next start removes it"},
		"restore copy":    {"queue.db.restore", "the next start removes it"},
		"restore staging": {"spool.restore/t.log", "the next start removes it"},
		// The db commands' side lock (ops26 1): a log there would be
		// removed under umbra's feet, or lock nothing.
		"db command lock": {"queue.db.cmdlock", "is the db commands' side lock"},
		// The daemon's run file (opsfix26 F2): renamed over at each
		// reload, removed at the stop.
		"run file":     {"admin.run", "is the daemon's run file"},
		"run file new": {"admin.run.tmp", "is the daemon's run file"},
	} {
		t.Run(name, func(t *testing.T) {
			y := head + "  path: " + tc.path + "\n"
			if name == "rotation" {
				os.WriteFile(filepath.Join(data, "queue.1"), nil, 0o600)
				os.Symlink(filepath.Join(dir, "recips"), filepath.Join(data, "queue.2"))
				defer os.Remove(filepath.Join(data, "queue.1"))
				defer os.Remove(filepath.Join(data, "queue.2"))
			}
			if name == "admin socket" {
				y = strings.Replace(y, "data_dir: data}", "data_dir: data, admin_socket: umbra.sock}", 1)
			}
			if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(cfgFile)
			if err == nil || !strings.Contains(err.Error(), "c.yaml:5: tracking.path") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant c.yaml:5: tracking.path ... %s", err, tc.want)
			}
		})
	}
	os.WriteFile(cfgFile, []byte(head+"  path: tracking.log\n"), 0o600)
	if _, err := Load(cfgFile); err != nil {
		t.Fatalf("a tracking log of its own: %v", err)
	}
}

// rt45 F4: watermarks in the wrong unit (a fraction for a percentage, a
// size without a unit, which is bytes) passed and refused all mail with
// 452 4.3.1. Refused at the mark's line, naming the unit expected.
func TestWatermarksInTheWrongUnitRefused(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\nback_pressure:\n"
	for yaml, want := range map[string]string{
		"  memory_percent:\n    normal: 0.7\n    medium: 75\n    high: 80\n":     "c.yaml:5: back_pressure.memory_percent.normal 0.7 is below 1: marks are percentages (write 70 for 70 %)",
		"  disk_used_percent: {normal: 60, medium: 70, high: 0.9}\n":             "c.yaml:4: back_pressure.disk_used_percent.high 0.9 is below 1",
		"  database_size:\n    normal: 12\n    medium: 14GiB\n    high: 16GiB\n": "c.yaml:5: back_pressure.database_size.normal 12 bytes is below 1MiB: a size without a unit is bytes (write e.g. 12GiB)",
		"  database_size: {normal: 12KiB, medium: 14GiB, high: 16GiB}\n":         "c.yaml:4: back_pressure.database_size.normal 12KiB (12288 bytes) is below 1MiB",
	} {
		_, err := Parse([]byte(base+yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v\nwant %s", yaml, err, want)
		}
	}
	// Whole percentages, 0 (never normal again), high 0 (not watched)
	// and sizes from 1MiB load.
	for _, yaml := range []string{
		"  memory_percent: {normal: 0, medium: 1, high: 1.5}\n",
		"  memory_percent: {normal: 0.5, medium: 0.6, high: 0}\n",
		"  database_size: {normal: 1MiB, medium: 2MiB, high: 3MiB}\n",
	} {
		if _, err := Parse([]byte(base+yaml), "c.yaml"); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}

// rt45 F4's siblings: a message size limit written without its unit
// (max_message_size: 36 for 36MiB) is bytes, and refused every message
// (552 5.3.4) or made every route too small. Below 1000 bytes no message
// fits: refused at the line, naming the unit.
func TestMessageSizeLimitInTheWrongUnitRefused(t *testing.T) {
	base := "server: {name: a.example.test}\n"
	for yaml, want := range map[string]string{
		base + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {max_message_size: 36}\n":                                                                                               "c.yaml:5: receive_connectors[0].limits.max_message_size 36 bytes is below 1000: a size without a unit is bytes (write e.g. 36MiB)",
		base + "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\nsend_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\"}]\n    smart_hosts: [\"127.0.0.9:25\"]\n    max_message_size: 10\n": "c.yaml:7: send_connectors[0].max_message_size 10 bytes is below 1000",
		base + "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\npickup: {directory: p, max_message_size: 500}\n":                                                                                         "c.yaml:3: pickup.max_message_size 500 bytes is below 1000",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v\nwant %s", yaml, err, want)
		}
	}
	topo := "sites: [{name: a}, {name: b}]\nsite_links:\n  - {name: a-b, sites: [a, b], cost: 10, max_message_size: 25}\n"
	if _, err := ParseTopology([]byte(topo), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:3: site link max_message_size 25 bytes is below 1000") {
		t.Errorf("topology: %v", err)
	}
}
