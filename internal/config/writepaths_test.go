package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ops11's F2 class, the rest (paths12): umbra never writes, renames or
// removes a file it also reads or owns for another purpose. Besides the
// tracking log (TestTrackingPathNeverAnOwnedFile), the Maildir tree
// (mail is delivered into it) and the pickup directory (its files are
// submitted, renamed and removed) hold nothing umbra reads or owns
// otherwise and lie outside the spool; a file umbra reads (recipients,
// certificates, keys, passwords) is not inside the spool, a Maildir tree
// or the pickup directory; and the writers keep out of each other's way
// (the tracking log — which holds the audit lines too — the Maildir
// tree, the pickup directory, the spool with the transport database and
// its dumpster). Names are compared after relative paths and links are
// resolved; each refusal is at a line of the file.
func TestWrittenPlacesNeverHoldOwnedFiles(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	spool := filepath.Join(data, "spool")
	os.MkdirAll(spool, 0o700)
	os.WriteFile(filepath.Join(data, "queue.db"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "recips"), []byte("a@example.test\n"), 0o600)
	os.WriteFile(filepath.Join(spool, "recips"), []byte("a@example.test\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "mail", "example.test"), 0o700)
	os.WriteFile(filepath.Join(dir, "mail", "recips"), []byte("a@example.test\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "pick"), 0o700)
	os.WriteFile(filepath.Join(dir, "pick", "pw"), []byte("secret\n"), 0o600)
	os.Symlink(data, filepath.Join(dir, "datalink"))
	cfgFile := filepath.Join(dir, "c.yaml")
	const head = "server: {name: h.example.test, data_dir: data}\n" + // line 1
		"receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n" + // 2
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n" // 3
	for name, tc := range map[string]struct{ yaml, want string }{
		"maildir is data_dir": {head + "mailbox:\n  maildir: .\n",
			"c.yaml:5: mailbox.maildir " + data + " holds the transport database " + filepath.Join(data, "queue.db")},
		"maildir above data_dir": {head + "mailbox:\n  maildir: ..\n",
			"c.yaml:5: mailbox.maildir " + dir + " holds the configuration file " + cfgFile},
		"maildir in the spool": {head + "mailbox:\n  maildir: spool/m\n",
			"c.yaml:5: mailbox.maildir " + filepath.Join(spool, "m") + " is inside the spool directory " + spool},
		"maildir in the spool via a link": {head + "mailbox:\n  maildir: ../datalink/spool\n",
			"c.yaml:5: mailbox.maildir " + filepath.Join(dir, "datalink", "spool") + " is the spool directory"},
		"recipients in the spool": {head + "mailbox: {maildir: ../mail}\nrecipients:\n  file: data/spool/recips\n",
			"c.yaml:6: recipients.file " + filepath.Join(spool, "recips") + " is inside the spool directory " + spool},
		"recipients in the maildir": {head + "mailbox: {maildir: ../mail}\nrecipients:\n  file: mail/recips\n",
			"c.yaml:6: recipients.file " + filepath.Join(dir, "mail", "recips") + " is inside mailbox.maildir " + filepath.Join(dir, "mail")},
		"password in the pickup directory": {head + "mailbox: {maildir: ../mail}\npickup: {directory: ../pick}\n" +
			"send_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\"}]\n    smart_hosts: [\"127.0.0.9:25\"]\n    tls: required\n    auth:\n      username: u\n      password_file: pick/pw\n",
			"c.yaml:13: send_connectors[0].auth.password_file " + filepath.Join(dir, "pick", "pw") + " is inside pickup.directory " + filepath.Join(dir, "pick")},
		"pickup in the spool": {head + "mailbox: {maildir: ../mail}\npickup:\n  directory: spool/in\n",
			"c.yaml:6: pickup.directory " + filepath.Join(spool, "in") + " is inside the spool directory " + spool},
		"pickup is the maildir": {head + "mailbox: {maildir: ../mail}\npickup:\n  directory: ../mail\n",
			"c.yaml:6: pickup.directory " + filepath.Join(dir, "mail") + " is mailbox.maildir"},
		"pickup inside the maildir": {head + "mailbox: {maildir: ../mail}\npickup:\n  directory: ../mail/example.test\n",
			"c.yaml:6: pickup.directory " + filepath.Join(dir, "mail", "example.test") + " is inside mailbox.maildir " + filepath.Join(dir, "mail")},
		"maildir inside the pickup directory": {head + "pickup: {directory: ../pick}\nmailbox:\n  maildir: ../pick/m\n",
			"c.yaml:6: mailbox.maildir " + filepath.Join(dir, "pick", "m") + " is inside pickup.directory " + filepath.Join(dir, "pick")},
		"pickup holds the database": {head + "mailbox: {maildir: ../mail}\npickup:\n  directory: .\n",
			"c.yaml:6: pickup.directory " + data + " holds the transport database"},
		"tracking log in the maildir": {head + "mailbox: {maildir: ../mail}\ntracking:\n  path: ../mail/t.log\n",
			"c.yaml:6: tracking.path " + filepath.Join(dir, "mail", "t.log") + " is inside mailbox.maildir " + filepath.Join(dir, "mail")},
		"tracking log in the pickup directory": {head + "mailbox: {maildir: ../mail}\npickup: {directory: ../pick}\ntracking:\n  path: ../pick/t.log\n",
			"c.yaml:7: tracking.path " + filepath.Join(dir, "pick", "t.log") + " is inside pickup.directory " + filepath.Join(dir, "pick")},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(cfgFile, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(cfgFile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
	// Each in a place of its own, side by side in the data directory,
	// loads: the defaults (tracking log and admin socket in data_dir).
	good := head + "mailbox: {maildir: maildir}\npickup: {directory: pickup}\nrecipients: {file: recips}\n"
	os.WriteFile(cfgFile, []byte(good), 0o600)
	if _, err := Load(cfgFile); err != nil {
		t.Fatalf("every place of its own: %v", err)
	}
}
