package smtp

import (
	"context"
	"errors"
	"fmt"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/recipients"
)

// AccountSource is a directory of SMTP AUTH accounts beside the
// credentials file (package ldapdir through cmd/umbra), used by the
// receive connectors whose auth.ldap is set.
type AccountSource interface {
	// Authenticate verifies name and password: ok false with a nil error
	// is a refusal; an error means the source could not decide (the
	// client gets 454 4.7.0 and may try again; nothing is let in).
	// user is the account's canonical identity when ok: a source that
	// matches names loosely (LDAP: case, extra spaces) returns the one
	// name every variant stands for, which the session then uses for
	// rate limits, logs and the server-id binding. On a refusal, user
	// names the account when name resolved to one (a wrong password, or
	// a name the source only folds to the account, which it never
	// accepts), else "": the log names an account guessed at, never what
	// else was typed, and the AUTH throttle counts the failure against
	// that account.
	Authenticate(ctx context.Context, name, password string) (user string, ok, server bool, err error)
	// HasServer: the source can hold transport server accounts.
	HasServer() bool
}

// errAccountsUnavailable: the account source could not answer.
var errAccountsUnavailable = errors.New("account directory unavailable")

// lookupInternalError is a directory lookup that failed by umbra's own
// defect (recipients.ErrInternal: a panic recovered where it happened):
// refused as an unavailable directory is (errors.Is errAccountsUnavailable:
// 454, no throttle), but its words and the session's reason
// (internal_error) say what it was, not "account directory
// unavailable", which sent the operator to a directory that was up.
type lookupInternalError struct{ err error }

func (e *lookupInternalError) Error() string { return "account lookup: " + e.err.Error() }
func (e *lookupInternalError) Unwrap() error { return e.err }
func (e *lookupInternalError) Is(target error) bool {
	return target == errAccountsUnavailable
}

// replyAuthTempFail is RFC 4954 §6's answer when the account cannot be
// verified now.
var replyAuthTempFail = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}

// withAccounts returns credentials that also ask src about names the
// file does not list (c may be nil: no file).
func withAccounts(c *Credentials, src AccountSource) *Credentials {
	if c == nil {
		c = &Credentials{users: map[string]account{}}
	}
	c.ext = src
	return c
}

// CheckContext is Check, then the account source for a name the file
// does not list. The file decides the names it lists. user is the
// identity authenticated: the name as the file lists it, or the one the
// account source returned (never the name as typed). On a refusal, user
// is the account name stands for when it is one (a wrong password), else
// "", for the log.
func (c *Credentials) CheckContext(ctx context.Context, name, password string) (user string, server bool, err error) {
	if c.ext == nil || c.exists(name) || c.listsVariant(name) {
		// A variant of a listed name (" alice", "ALICE") is the file's
		// too: the directory would take it for its own alice, a second
		// account behind the name the file decides. The file compares
		// exactly, so only the listed spelling gets in.
		server, err = c.check(ctx, name, password)
		if err != nil {
			if c.exists(name) {
				return name, false, err
			}
			return "", false, err
		}
		return name, server, nil
	}
	user, ok, server, err := c.ext.Authenticate(ctx, name, password)
	switch {
	case errors.Is(err, recipients.ErrInternal):
		return "", false, &lookupInternalError{err}
	case err != nil:
		return "", false, fmt.Errorf("%w: %v", errAccountsUnavailable, err)
	case !ok:
		return user, false, errBadCredentials // user: the account, if name is one
	case user == "":
		return "", false, errBadCredentials
	}
	return user, server, nil
}

// listsVariant reports whether the file lists a name the directory's
// equality rules take for name (AccountKey: case, extra spaces).
func (c *Credentials) listsVariant(name string) bool {
	k := AccountKey(name)
	for n := range c.users {
		if AccountKey(n) == k {
			return true
		}
	}
	return false
}
