package mailbox

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Check says how far a delivery looks for a copy of the message that is
// in the mailbox already, before it writes (Options.Check).
type Check int

const (
	// CheckNames looks for the delivery's own name (Name): in new/, and
	// in cur/ with or without a reader's info, of the inbox and of every
	// Maildir++ folder (has). It reads each cur/ of the mailbox by its
	// names: its cost grows with the mailbox.
	CheckNames Check = iota
	// CheckFirst reads no directory: the name in the inbox's new/ (the
	// link(2) never replaces it) and in its cur/ as an unread or read
	// file (NAME:2, and NAME:2,S, a stat each: firstNames) is found, at
	// a cost that does not grow with the mailbox; a copy with other
	// flags or in a folder is not looked for. For the first attempt of a
	// message no attempt of this server began on (package queue:
	// Message.Prior PriorNone): nothing of it can be in the mailbox from
	// this server, and a copy another hub of a shared store wrote is
	// found while it is unread or read in the inbox.
	CheckFirst
	// CheckHeaders is CheckNames, and also finds the message under a
	// name that is not umbra's own (a reader's IMAP MOVE or COPY gives
	// it one) by the organisation id in its header (Options.OrgID):
	// every file of the mailbox not named in umbra's form has its
	// header section read, up to scanHeaderBytes, once per mailbox and
	// Options.Scan (a dumpster redelivery request: orgScan), the ids
	// found kept for the deliveries of the same scan.
	CheckHeaders
)

// OrgHeader is the header field umbra writes the organisation id in
// (orgid.Header; package delivery's tests hold the two equal: this leaf
// package imports no other of umbra's but mailaddr).
const OrgHeader = "X-Umbra-Org-Id"

// Options are what DeliverWith is told beyond the message.
type Options struct {
	Check Check
	// OrgID is the message's organisation id (CheckHeaders).
	OrgID string
	// Scan names the scan CheckHeaders may share with other deliveries
	// (the redelivery request): one scan of a mailbox per Scan, kept at
	// most scanKeep. "" shares none: a scan per delivery.
	Scan string
}

const (
	// scanHeaderBytes bounds what a header scan reads of one file: its
	// header section, cut at this many bytes (umbra writes the org id in
	// front of the message: Return-Path, Delivered-To, a Received field).
	scanHeaderBytes = 16 << 10
	// scanKeep is how long a scan serves the deliveries of its Scan,
	// and scanEntries how many mailboxes' scans are kept at once (the
	// oldest dropped first): a scan holds the org ids of the files a
	// reader renamed, not the mailbox.
	scanKeep    = 10 * time.Minute
	scanEntries = 1024
)

// umbraName reports whether n (a file name, its ":" info cut) has the
// form Name gives: "O" and 32 lower-case hex digits.
func umbraName(n string) bool {
	if len(n) != 33 || n[0] != 'O' {
		return false
	}
	return hex32(n[1:])
}

// hex32 reports whether s is 32 lower-case hex digits: the form of an
// organisation id (package orgid, which this leaf package does not
// import) and of the hash in Name.
func hex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

type scanKey struct{ dir, scan string }

type orgScan struct {
	done chan struct{}
	at   time.Time
	ids  map[string]bool
}

type scanCache struct {
	mu    sync.Mutex
	scans map[scanKey]*orgScan
}

// evict drops the scans older than scanKeep and, past scanEntries, the
// oldest ones; the caller holds mu.
func (c *scanCache) evict(now time.Time) {
	if len(c.scans) < scanEntries {
		return
	}
	for k, s := range c.scans {
		if now.Sub(s.at) > scanKeep {
			delete(c.scans, k)
		}
	}
	for len(c.scans) >= scanEntries {
		var oldest scanKey
		var at time.Time
		for k, s := range c.scans {
			if at.IsZero() || s.at.Before(at) {
				oldest, at = k, s.at
			}
		}
		delete(c.scans, oldest)
	}
}

// hasOrgID reports whether a file of the mailbox dir, under a name not
// of umbra's form, carries org id id in its header section. The scan is
// shared by the calls of the same Options.Scan for scanKeep.
func (d *Maildir) hasOrgID(dir, id, scan string) bool {
	if id == "" {
		return false
	}
	if scan == "" {
		return scanOrgIDs(dir)[id]
	}
	c := &d.cache
	k := scanKey{dir, scan}
	c.mu.Lock()
	if c.scans == nil {
		c.scans = map[scanKey]*orgScan{}
	}
	s := c.scans[k]
	if s != nil && time.Since(s.at) > scanKeep {
		delete(c.scans, k)
		s = nil
	}
	if s == nil {
		now := time.Now()
		c.evict(now)
		s = &orgScan{done: make(chan struct{}), at: now}
		c.scans[k] = s
		c.mu.Unlock()
		func() {
			// Closed however the scan ends: a panic of it (recovered by
			// the delivery that asked) left every later asker of the
			// same directory waiting on done for good. Its ids are then
			// none: no duplicate found by the scan (a duplicate at
			// worst, never a loss).
			defer close(s.done)
			s.ids = scanOrgIDs(dir)
		}()
	} else {
		c.mu.Unlock()
		<-s.done
	}
	return s.ids[id]
}

// scanOrgIDs reads the header section of every file in new/ and cur/ of
// the mailbox dir and its folders whose name is not umbra's own, and
// returns the org ids found. Files under umbra's names are left to has.
func scanOrgIDs(dir string) map[string]bool {
	ids := map[string]bool{}
	for _, f := range folders(dir) {
		for _, sub := range []string{"new", "cur"} {
			p := filepath.Join(f, sub)
			dh, err := os.Open(p)
			if err != nil {
				continue
			}
			for {
				names, err := dh.Readdirnames(256)
				for _, n := range names {
					base, _, _ := strings.Cut(n, ":")
					if umbraName(base) || strings.HasPrefix(n, ".") {
						continue
					}
					if id := headerOrgID(filepath.Join(p, n)); id != "" {
						ids[id] = true
					}
				}
				if err != nil || len(names) == 0 {
					break
				}
			}
			dh.Close()
		}
	}
	return ids
}

// headerOrgID is the org id in the header section of file p (CRLF or LF
// lines), read up to scanHeaderBytes; "" if none or not a valid id.
func headerOrgID(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	r := bufio.NewReaderSize(io.LimitReader(f, scanHeaderBytes), 4096)
	// A field is read unfolded (RFC 5322 §2.2.3: a line that begins with
	// a space or a tab continues the one before), its name compared
	// without the blanks before the colon (§4.5.3 obsolete syntax, which
	// every reader still takes): a reader that rewrote the header keeps
	// the field findable. A field's text is kept up to fieldKeep.
	const fieldKeep = 1024
	var field []byte
	orgOf := func() string {
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimRight(name, " \t"), []byte(OrgHeader)) {
			return ""
		}
		if id := string(bytes.TrimSpace(value)); hex32(id) {
			return id
		}
		return ""
	}
	for {
		line, err := r.ReadSlice('\n')
		l := bytes.TrimRight(line, "\r\n")
		if len(l) == 0 || l[0] != ' ' && l[0] != '\t' { // a new field, or the end of the section
			if id := orgOf(); id != "" {
				return id
			}
			field = field[:0]
			if len(l) == 0 {
				return "" // the end of the header section (or of the file)
			}
		}
		if len(field)+len(l) <= fieldKeep {
			field = append(field, l...)
		}
		if err == bufio.ErrBufferFull { // a line longer than the buffer: skip its rest
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
		}
		if err != nil {
			return orgOf()
		}
	}
}

// firstNames are the names CheckFirst looks up in the inbox's cur/ by
// stat: the delivery seen by a reader (":2,") and read (":2,S").
var firstNames = []string{":2,", ":2,S"}

// hasFirst is CheckFirst's look-up before the link: the name in the
// inbox's new/ and cur/ (firstNames), a stat each.
func hasFirst(dir, name string) bool {
	if _, err := os.Stat(filepath.Join(dir, "new", name)); err == nil {
		return true
	}
	for _, info := range firstNames {
		if _, err := os.Stat(filepath.Join(dir, "cur", name+info)); err == nil {
			return true
		}
	}
	return false
}
