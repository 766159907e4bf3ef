package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/filelimit"
	"umbra/internal/ldapdir"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/resolver"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// newDirectory builds the LDAP directory of a configuration (nil when
// the ldap section is off). It reads the service password and the CA
// file now, so that a missing or unusable one fails config check, the
// start and a reload, at its setting's line; it does not connect.
// The URL's host name is looked up by res, the server's resolver (EDGE
// "DNS done once": the dns section, its hosts_file first); res nil (a
// command outside the daemon): a resolver of cfg's dns section of its
// own, or the system's where that section cannot make one (its error
// is the configuration check's to report).
func newDirectory(cfg *config.Config, reg prometheus.Registerer, res *resolver.Cache) (*ldapdir.Directory, error) {
	l := cfg.LDAP
	if !l.Enabled() {
		return nil, nil
	}
	var lookup func(ctx context.Context, host string) ([]string, error)
	if res == nil {
		res, _ = newResolver(cfg.DNS, nil)
	}
	if res != nil {
		lookup = res.LookupHost
	}
	password, err := ldapPassword(l.BindPasswordFile)
	if err != nil {
		return nil, cfg.Place(err)
	}
	var tc *tls.Config
	if l.CAFile != "" {
		pool := x509.NewCertPool()
		if err := config.AppendCAFile(pool, l.CAFile, "ldap", "ca_file"); err != nil {
			return nil, cfg.Place(err)
		}
		tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return ldapdir.New(ldapdir.Config{URL: l.URL, StartTLS: l.StartTLS, TLS: tc, BindDN: l.BindDN, BindPassword: password,
		BaseDN: l.BaseDN, RecipientFilter: l.RecipientFilter, DatabaseAttribute: l.DatabaseAttribute,
		AccountFilter: l.AccountFilter, ServerAccountFilter: l.ServerAccountFilter, Timeout: l.Timeout.D(),
		PositiveTTL: l.PositiveTTL.D(), NegativeTTL: l.NegativeTTL.D(), CacheSize: l.CacheSize, Registerer: reg,
		AwaitPeer: queue.AwaitingPeer, LookupHost: lookup})
}

// ldapPassword is the service account's password: the first line of
// ldap.bind_password_file, without a byte-order mark or its line end
// (filelimit.Secret, as every password file is read; "" without the
// setting). An empty one would be refused only by the directory, at
// the first lookup.
func ldapPassword(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := config.ReadFileLimit(file, config.MaxPasswordFileSize, "a password file")
	if err != nil {
		return "", config.NewFileError(file, err, "ldap", "bind_password_file")
	}
	password := filelimit.Secret(b) // as a send connector's password file is read
	// Something below a blank first line: not an empty file.
	if password == "" && strings.TrimSpace(string(filelimit.TrimBOM(b))) != "" {
		return "", &config.FileError{Setting: []any{"ldap", "bind_password_file"},
			Err: fmt.Errorf("ldap.bind_password_file %s: its first line is empty (the password is the file's first line)", file)}
	}
	if password == "" {
		return "", &config.FileError{Setting: []any{"ldap", "bind_password_file"},
			Err: fmt.Errorf("ldap.bind_password_file %s is empty", file)}
	}
	return password, nil
}

// ldapAccounts adapts the directory to smtp.AccountSource.
type ldapAccounts struct{ d *ldapdir.Directory }

func (a ldapAccounts) Authenticate(ctx context.Context, name, password string) (user string, ok, server bool, err error) {
	user, server, err = a.d.AuthenticateUser(ctx, name, password)
	if errors.Is(err, ldapdir.ErrBadCredentials) {
		return user, false, false, nil // user: the account a wrong password was given for, or ""
	}
	return user, err == nil, server, err
}

func (a ldapAccounts) HasServer() bool { return a.d.HasServer() }

var _ smtp.AccountStanding = ldapAccounts{}

// Account says whether an account that authenticated is still one
// (smtp.AccountStanding: its sessions are judged again at MAIL and RCPT).
func (a ldapAccounts) Account(ctx context.Context, name, user string) (found, server bool, err error) {
	return a.d.Account(ctx, name, user)
}

// accountSource is the directory's accounts for the SMTP server, or nil.
func accountSource(d *ldapdir.Directory) smtp.AccountSource {
	if d == nil || !d.HasAccounts() {
		return nil
	}
	return ldapAccounts{d}
}

// ldapDatabases adapts the directory to routing.DatabaseSource: each
// question is bounded by the directory's own timeout and by ctx, and
// while the directory is asked (not its cache) the attempt planning the
// message waits on a peer (ldapdir.Config.AwaitPeer is
// queue.AwaitingPeer).
type ldapDatabases struct{ d *ldapdir.Directory }

func (a ldapDatabases) MailboxDatabase(ctx context.Context, rcpt string) (string, bool, error) {
	return a.d.MailboxDatabase(ctx, rcpt)
}

func (a ldapDatabases) CachedMailboxDatabase(rcpt string) (string, bool, bool) {
	return a.d.CachedMailboxDatabase(rcpt)
}

// withDirectoryDatabases makes topo ask the directory for mailbox
// databases when the ldap section names a database attribute.
func withDirectoryDatabases(topo *routing.Topology, cfg *config.Config, d *ldapdir.Directory) *routing.Topology {
	if topo != nil && d != nil && cfg.LDAP.DatabaseAttribute != "" {
		topo.SetDatabases(ldapDatabases{d})
	}
	return topo
}

// ldapRecipients is the directory as a recipient source, or nil.
func ldapRecipients(d *ldapdir.Directory) recipients.Directory {
	if d == nil {
		return nil
	}
	return d
}
