package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/queue"
)

// OPS-3: serve's refusal of a damaged transport database names
// the damaged page's bucket by Go's quoting (pagewalk.go: where, %q) —
// a body held in a bucket of its own is named by its 8-byte message id,
// "bodies/\x00…\x01". Before, serve returned queue.Open's error
// as it was and errorText kept that quoted segment as it is (plainText:
// quotedAsIs); shownErr(err, data_dir) now runs admin.ShownText over
// the whole text, which doubles the backslash of each \xNN Go wrote:
// the bucket name is escaped twice and reads as the text "\x00", not
// the byte.
func TestOPS3DamagedBucketNameEscapedOnce(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(data, "queue.db")
	st, err := queue.Open(dbPath, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	key := []byte{0, 0, 0, 0, 0, 0, 0, 1}
	db, err := bolt.Open(dbPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		own, err := tx.Bucket([]byte("bodies")).CreateBucket(key)
		if err != nil {
			return err
		}
		return own.Put([]byte{0}, []byte(strings.Repeat("b", 20<<10)))
	}); err != nil {
		t.Fatal(err)
	}
	var root uint64
	db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("bodies")).Bucket(key).Root())
		return nil
	})
	ps := db.Info().PageSize
	db.Close()
	if root == 0 {
		t.Fatal("the body's bucket is inline")
	}
	f, err := os.OpenFile(dbPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The page says it is another page: overwritten.
	if _, err := f.WriteAt([]byte{0x77, 0x77, 0, 0, 0, 0, 0, 0}, int64(root)*int64(ps)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := filepath.Join(dir, "a.yaml")
	os.WriteFile(p, []byte(`server:
  name: hub.rr.test
  data_dir: "`+data+`"
  admin_socket: "`+dir+`/a.sock"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.214:15214"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
`), 0o600)
	out, _, code := runBounded(t, "serve", "-c", p)
	if code == 0 {
		t.Fatalf("serve started on a damaged database:\n%s", out)
	}
	once := `bucket "bodies/\x00\x00\x00\x00\x00\x00\x00\x01"`
	if !strings.Contains(out, once) {
		t.Errorf("serve's refusal does not name the bucket as Go quoted it, escaped once (%s):\n%s", once, out)
	}
}

// OPS-3, the same rule in a sibling place: db restore's refusal
// of an --owner naming no user writes the value twice, by %s and by %q
// (restoreowner.go), inside shownErr: the %s copy reads bad\xe9user
// (escaped once), the %q copy "bad\\xe9user" (Go's quoting escaped
// again by admin.ShownText).
func TestOPS3RestoreOwnerQuotedOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.yaml")
	os.WriteFile(p, []byte(`server:
  name: hub.rr.test
  data_dir: "`+dir+`/data"
  admin_socket: "`+dir+`/a.sock"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.214:15214"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
`), 0o600)
	out, _, code := runBounded(t, "db", "restore", filepath.Join(dir, "nobackup"), "--owner", "bad\xe9user", "-c", p)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, out)
	}
	if strings.Contains(out, `\\xe9`) || !strings.Contains(out, `no user "bad\xe9user"`) {
		t.Errorf("the --owner value is not escaped once in its quoted copy:\n%s", out)
	}
}
