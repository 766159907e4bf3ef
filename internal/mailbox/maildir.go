package mailbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"umbra/internal/mailaddr"
	"unicode"
	"unicode/utf8"
)

// Maildir is a tree <root>/<domain>/<local-part>/{tmp,new,cur}.
type Maildir struct {
	Root     string
	Hostname string
	seq      atomic.Uint64
	cache    scanCache // CheckHeaders' scans, per mailbox and redelivery request
}

// Path returns the Maildir of a recipient: <root>/<domain>/<local>, each
// folded in ASCII (mailaddr.Fold) so that Alice@ and alice@ share a
// mailbox, and \u212Aelvin@ (KELVIN SIGN) never shares kelvin@'s, then
// written by component. A domain with a non-ASCII byte is written as its
// lower-case A-label (mailaddr.DomainKey), so anna@bücher.example and
// anna@xn--bcher-kva.example share one directory; an ASCII domain keeps
// its directory as ever (ASCII case folded, nothing else).
func (d *Maildir) Path(local, domain string) string {
	return filepath.Join(d.Root, component(domainDir(domain)), component(mailaddr.Fold(local)))
}

// domainDir is the directory name of a domain before component:
// Fold's for an ASCII domain, DomainKey's (the A-label) otherwise.
func domainDir(domain string) string {
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			return mailaddr.DomainKey(domain)
		}
	}
	return mailaddr.Fold(domain)
}

// component is the directory name of a folded local part or domain. The
// mapping is injective and safe: a byte that could leave the tree or
// hide the directory — '/', '\\', NUL and the other control bytes, DEL,
// a leading '.' — is written as '%' and two upper-case hex digits, and
// so is '%' itself; so is every byte of a character that would mislead
// whoever lists the directories: a C1 control character (U+0080–U+009F:
// U+009B is a terminal's CSI), a format character (bidirectional
// overrides such as U+202E, zero-width characters, U+FEFF), a line or
// paragraph separator, or a byte that is not valid UTF-8. The empty
// string is "%" alone. Every other character (letters, digits, the rest
// of atext, printable UTF-8) stays as it is, so an ordinary address's
// Maildir is its own name, and no two names share a directory: '%'
// always starts an escape, so the name decodes back.
func component(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '/' || c == '\\' || c == '%' || c < 0x20 || c == 0x7f || (c == '.' && i == 0) {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			for _, x := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "%%%02X", x)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Name is the file name of one delivery, derived from (database,
// organisation message id, recipient) alone: every copy of the transport
// message for that mailbox — a retry after a crash, a copy resubmitted by
// a shadow takeover, the same message delivered by another hub into a
// shared store — lands on the same name, and Deliver writes it once. The
// name holds no host: two servers writing into one store must agree on
// it. The org id is never empty (every queued message has one); should it
// be, the name is still stable per (database, recipient) — and Deliver
// would then keep the first copy only, so callers never pass "".
// The recipient is keyed as mailaddr.AddrKey gives it: ASCII case
// aside, and an internationalised domain as its A-label, so both forms
// of one address name one delivery (an ASCII address keys as Fold's).
func Name(database, orgID, rcpt string) string {
	h := sha256.Sum256([]byte(database + "\x00" + orgID + "\x00" + mailaddr.AddrKey(rcpt)))
	return "O" + hex.EncodeToString(h[:16])
}

// ErrAlreadyDelivered: the Maildir holds this delivery already (another
// server of a shared store, or an earlier attempt, wrote it).
var ErrAlreadyDelivered = errors.New("maildir: already delivered")

// ErrNotCanonical: the domain is not in its canonical form (it has a
// final dot); the writer makes no directory for it.
var ErrNotCanonical = errors.New("maildir: domain not in canonical form (final dot)")

// Deliver writes one message for one recipient, with Return-Path and
// Delivered-To headers in front of it, as new/NAME. A file of that name
// already in new/ or cur/ (a reader moved it there, maybe with flags
// after a ':') means this
// delivery happened, and so does one in new/ or cur/ of a Maildir++
// folder (.NAME/) the reader moved it into: Deliver returns ErrAlreadyDelivered without writing
// it again (the caller reports a suppressed duplicate, not a delivery). The
// file goes from tmp/ into new/ by link(2), which never replaces an
// existing name: of two servers delivering the same copy into a shared
// store at once, one writes it and the other finds it there.
// Return-Path and Delivered-To are umbra's own at final delivery: the
// caller removes arriving ones from body first (package delivery does).
func (d *Maildir) Deliver(local, domain, from, name string, body []byte) error {
	return d.DeliverFrom(local, domain, from, name, body, nil)
}

// DeliverFrom is Deliver for a message given as head followed by what
// tail yields (a spooled body, streamed into the file; nil for none).
//
// domain must be canonical (mailaddr.CanonicalDomain: no final dot): a
// domain written another way is refused (ErrNotCanonical), not given a
// directory of its own the user never reads (rt16d F1).
func (d *Maildir) DeliverFrom(local, domain, from, name string, body []byte, tail io.Reader) error {
	return d.DeliverWith(local, domain, from, name, body, tail, Options{})
}

// fileNameSafe makes a message name or host name one file name part
// (no directory, no Maildir info separator); built once, for every
// delivery.
var fileNameSafe = strings.NewReplacer("/", "_", ":", "_")

// DeliverWith is DeliverFrom looking for an earlier copy as o says:
// by its name everywhere in the mailbox (CheckNames, DeliverFrom's), in
// the inbox at a fixed cost with no directory read (CheckFirst), or by
// its name and by the org id in the header of a file a reader renamed
// (CheckHeaders).
func (d *Maildir) DeliverWith(local, domain, from, name string, body []byte, tail io.Reader, o Options) error {
	if mailaddr.CanonicalDomain(domain) != mailaddr.Fold(domain) {
		return ErrNotCanonical
	}
	dir := d.Path(local, domain)
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	name = fileNameSafe.Replace(name)
	host := fileNameSafe.Replace(d.Hostname)
	if o.Check != CheckFirst {
		// A first attempt (CheckFirst) follows no write of this
		// server's for this delivery, so none can have left a file in
		// tmp/, and it keeps its fixed cost: no directory read.
		sweepTmp(filepath.Join(dir, "tmp"), name+"."+host+".", time.Now())
	}
	switch o.Check {
	case CheckFirst:
		if hasFirst(dir, name) {
			return ErrAlreadyDelivered
		}
	case CheckNames:
		if d.has(dir, name) {
			return ErrAlreadyDelivered
		}
	case CheckHeaders:
		if d.has(dir, name) || d.hasOrgID(dir, o.OrgID, o.Scan) {
			return ErrAlreadyDelivered
		}
	}
	tmp := filepath.Join(dir, "tmp", fmt.Sprintf("%s.%s.%d.%d", name, host, os.Getpid(), d.seq.Add(1)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the link, new/NAME keeps the data
	head := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s@%s\r\n", from, local, domain)
	_, err = f.WriteString(head)
	if err == nil {
		_, err = f.Write(body)
	}
	if err == nil && tail != nil {
		_, err = io.Copy(f, tail)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, filepath.Join(dir, "new", name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrAlreadyDelivered // another writer delivered this copy first
		}
		return err
	}
	if err := syncDir(filepath.Join(dir, "new")); err != nil {
		return err
	}
	return nil
}

// staleTmpAge is how long a file may stay in tmp/ untouched before a
// writer takes it for abandoned: the Maildir rule (36 hours), far beyond
// any write's timeout.
const staleTmpAge = 36 * time.Hour

// sweepTmp removes from tmp what a crash left there (rt19h F10): a file
// this server wrote for this delivery under another process id (prefix
// NAME.HOST., then PID.SEQ, written before this process began when PID is
// its own — a process killed between the write and its
// unlink, whether or not the link into new/ happened: the delivery is
// repeated or found by its name after this), and any file untouched for
// staleTmpAge. A file of another server sharing the store, or of this
// process, may be in the middle of its write and is kept. Errors are
// ignored: a file left behind costs space, never a delivery.
func sweepTmp(tmp, prefix string, now time.Time) {
	f, err := os.Open(tmp)
	if err != nil {
		return
	}
	entries, _ := f.ReadDir(-1)
	f.Close()
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		n := e.Name()
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			if pid, seq, ok := strings.Cut(rest, "."); ok && digits(pid) && digits(seq) {
				// Another process id is an earlier process; this one is
				// too when the file is older than this process (a
				// daemon that is PID 1 in its container every time).
				if pid != self {
					os.Remove(filepath.Join(tmp, n))
					continue
				}
				if fi, err := e.Info(); err == nil && fi.ModTime().Before(processStart) {
					os.Remove(filepath.Join(tmp, n))
					continue
				}
			}
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > staleTmpAge {
			os.Remove(filepath.Join(tmp, n))
		}
	}
}

// processStart is when this process began: a tmp/ file of this server's
// name and of this process id written before it is an earlier process's
// whose id was the same.
var processStart = time.Now()

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// has reports whether the delivery named name is in the Maildir already:
// in new/ or cur/ of the inbox or of any Maildir++ folder (a directory
// ".NAME" of the mailbox), where a reader may have moved it (rt17d F2).
// It looks the name up in each, never reading a message: new/ by the
// exact name (a file there carries no ":2," info yet), cur/ by the name
// with or without its info — each folder's cur/ read once, by its
// names in batches (inCur: no stat, no pattern), so a check's memory does
// not grow with the mailbox; the folders are listed once per check.
func (d *Maildir) has(dir, name string) bool {
	for _, f := range folders(dir) {
		if _, err := os.Stat(filepath.Join(f, "new", name)); err == nil {
			return true
		}
		if inCur(filepath.Join(f, "cur"), name) {
			return true
		}
	}
	return false
}

// folders is the mailbox dir and its Maildir++ folders (".NAME").
func folders(dir string) []string {
	out := []string{dir}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if n := e.Name(); e.IsDir() && len(n) > 1 && n[0] == '.' && n != ".." {
				out = append(out, filepath.Join(dir, n))
			}
		}
	}
	return out
}

// names is the set of delivery names (a file's name before its ":"
// info) in new/ and cur/ of the mailbox dir and its folders: what has
// looks up one by one, listed once for a caller asking of many (the
// legacy merge).
func names(dir string) map[string]bool {
	set := map[string]bool{}
	for _, f := range folders(dir) {
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(f, sub))
			for _, e := range ents {
				n, _, _ := strings.Cut(e.Name(), ":")
				set[n] = true
			}
		}
	}
	return set
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
