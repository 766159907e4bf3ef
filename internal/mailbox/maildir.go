package mailbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// Name is the file name stem of one delivery. With a Message-ID it is
// derived from (database, Message-ID, recipient) alone, so every copy of
// the message for that mailbox — a retry after a crash, a copy resubmitted
// by a shadow takeover — lands on the same name and Deliver writes it
// once. Without one it is the queue id and recipient index, which a retry
// of the same queued message repeats.
func Name(database, messageID, rcpt, queueID string, rcptIndex int) string {
	if id := strings.ToLower(strings.Trim(messageID, "<> ")); id != "" {
		h := sha256.Sum256([]byte(database + "\x00" + id + "\x00" + strings.ToLower(rcpt)))
		return "M" + hex.EncodeToString(h[:16])
	}
	return fmt.Sprintf("Q%s_%d", queueID, rcptIndex)
}

// Deliver writes one message for one recipient, with Return-Path and
// Delivered-To headers in front of it, as new/NAME.HOST. Those headers
// are umbra's own at final delivery: the caller removes arriving ones
// from body first (package delivery does). A file of that
// name already in new/, or in cur/ (a reader moved it there, maybe with
// flags), means this delivery happened: Deliver returns nil without
// writing it again.
func (d *Maildir) Deliver(local, domain, from, name string, body []byte) error {
	dir := d.Path(local, domain)
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	name = name + "." + strings.NewReplacer("/", "_", ":", "_").Replace(d.Hostname)
	if _, err := os.Stat(filepath.Join(dir, "new", name)); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "cur", name)); err == nil {
		return nil
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "cur", name+":*")); len(m) > 0 {
		return nil
	}
	tmp := filepath.Join(dir, "tmp", fmt.Sprintf("%s.%d", name, d.seq.Add(1)))
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
