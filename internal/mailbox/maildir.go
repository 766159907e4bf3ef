package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Maildir is a tree <root>/<domain>/<local-part>/{tmp,new,cur}.
type Maildir struct {
	Root     string
	Hostname string
	seq      atomic.Uint64
}

// Path returns the Maildir of a recipient. Characters that could leave the
// tree ('/', NUL, a leading '.') are replaced, and the local part is
// lower-cased so that Alice@ and alice@ share a mailbox.
func (d *Maildir) Path(local, domain string) string {
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if r == '/' || r == '\\' || r == 0 || r < 0x20 {
				return '_'
			}
			return r
		}, strings.ToLower(s))
		if s == "" || strings.HasPrefix(s, ".") {
			s = "_" + s
		}
		return s
	}
	return filepath.Join(d.Root, clean(domain), clean(local))
}

// Deliver writes one message for one recipient, with Return-Path and
// Delivered-To headers in front of it.
func (d *Maildir) Deliver(local, domain, from, queueID string, body []byte) error {
	dir := d.Path(local, domain)
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	name := fmt.Sprintf("%d.%s_%d.%s", time.Now().Unix(), queueID, d.seq.Add(1), strings.ReplaceAll(d.Hostname, "/", "_"))
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	head := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s@%s\r\n", from, local, domain)
	_, err = f.WriteString(head)
	if err == nil {
		_, err = f.Write(body)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Join(dir, "new"))
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
