package ldapdir

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// A step that got the directory's own answer — a result code it sent
// (invalid credentials of the service account, insufficient access) —
// is that answer, even when it is handled once the question's time is
// up: never "no answer within … (ldap.timeout)", which would send the
// operator after a slow directory while the bind DN's password is
// wrong. Only a step cut locally (a connection closed under it, go-ldap's
// network errors) is taken for the timeout once the time is up.
func TestDirectoryAnswerAfterDeadlineIsNotATimeout(t *testing.T) {
	d := &Directory{cfg: Config{Timeout: 5 * time.Second}}
	own := time.Now().Add(-time.Millisecond) // the question's time just up
	for _, code := range []uint16{ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInsufficientAccessRights} {
		err := d.unavailable(context.Background(), own, ldap.NewError(code, errors.New("from the directory")))
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "ldap.timeout") {
			t.Errorf("result %d handled late: %v, want the directory's answer, not a timeout", code, err)
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), ldap.LDAPResultCodeMap[code]) {
			t.Errorf("result %d handled late: %v, want it unavailable with its result", code, err)
		}
	}
	// A connection closed under the step once the time was up (go-ldap's
	// network error) stays the timeout.
	err := d.unavailable(context.Background(), own, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("connection closed after the deadline: %v, want the timeout", err)
	}
}
