package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// The recipients as the daemon knows them, for route explain: what RCPT
// answers each address by the lists and the directory the daemon loaded
// (GET /v1/rcptcheck), and the mailbox database its directory assigns
// (GET /v1/mailboxdb). route explain with a daemon answering asks these
// rather than reading the recipients file and building an LDAP
// directory from the files on disk, which the daemon may not have
// loaded (a file edited since without a reload, LDAP settings that
// apply at a restart).

// MailboxDB is GET /v1/mailboxdb: the mailbox database the daemon's
// directory assigns an address (Found false: none), or why it could not
// say (Error; Timeout when the directory did not answer in time).
type MailboxDB struct {
	Address  string `json:"address"`
	Database string `json:"database,omitempty"`
	Found    bool   `json:"found"`
	Error    string `json:"error,omitempty"`
	Timeout  bool   `json:"timeout,omitempty"`
}

// SetRecipientCheck gives the API the daemon's answer of RCPT to each
// address (GET /v1/rcptcheck?address=…; the JSON of the CLI's checks, in
// the order given): its validator as loaded at start or at the last
// reload, without a callout.
func (s *Server) SetRecipientCheck(f func(ctx context.Context, addrs []string) any) { s.rcptCheck = f }

// SetMailboxDatabase gives the API the mailbox database assignment of
// the daemon's directory (GET /v1/mailboxdb?address=…); not given when
// no directory assigns them (ldap.database_attribute not set).
func (s *Server) SetMailboxDatabase(f func(ctx context.Context, addr string) (db string, found bool, err error)) {
	s.mailboxDB = f
}

func (s *Server) recipientRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/rcptcheck", func(w http.ResponseWriter, r *http.Request) {
		if s.rcptCheck == nil {
			fail(w, http.StatusNotFound, "no recipient check given")
			return
		}
		addrs := r.URL.Query()["address"]
		if len(addrs) == 0 {
			fail(w, http.StatusBadRequest, "address: at least one is needed")
			return
		}
		reply(w, s.rcptCheck(r.Context(), addrs), nil)
	})
	mux.HandleFunc("GET /v1/mailboxdb", func(w http.ResponseWriter, r *http.Request) {
		if s.mailboxDB == nil {
			fail(w, http.StatusNotFound, "no directory assigns mailbox databases here (ldap.database_attribute is not set)")
			return
		}
		addr := r.URL.Query().Get("address")
		if addr == "" {
			fail(w, http.StatusBadRequest, "address: one is needed")
			return
		}
		out := MailboxDB{Address: addr}
		var err error
		out.Database, out.Found, err = s.mailboxDB(r.Context(), addr)
		if err != nil {
			out.Error, out.Timeout = err.Error(), errors.Is(err, context.DeadlineExceeded)
		}
		reply(w, out, nil)
	})
}

// RecipientCheck asks the daemon what RCPT answers each address (out:
// the JSON of the CLI's checks).
func (c *Client) RecipientCheck(addrs []string, out any) error {
	return c.do("GET", "/v1/rcptcheck", url.Values{"address": addrs}, out)
}

// MailboxDatabase asks the daemon's directory for the mailbox database
// of addr, as routing.DatabaseSource answers: a directory that did not
// answer in time is context.DeadlineExceeded; a failed request, as the
// directory's failure, is an error too.
func (c *Client) MailboxDatabase(addr string) (db string, found bool, err error) {
	var out MailboxDB
	if err := c.do("GET", "/v1/mailboxdb", url.Values{"address": {addr}}, &out); err != nil {
		return "", false, err
	}
	switch {
	case out.Timeout:
		return "", false, fmt.Errorf("the daemon's directory: %s: %w", out.Error, context.DeadlineExceeded)
	case out.Error != "":
		return "", false, fmt.Errorf("the daemon's directory: %s", out.Error)
	}
	return out.Database, out.Found, nil
}
