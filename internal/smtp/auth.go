package smtp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
)

// Credentials are the accounts of a credentials file: one
// "name:bcrypt-hash[:server]" per line, '#' comments and blank lines
// ignored. The server flag marks transport server accounts (SPEC SR-1).
type Credentials struct {
	users map[string]account
	// dummy is compared against when the user is unknown. It has the
	// cost of the most expensive configured hash, so that a refusal takes
	// as long whether or not the name exists (the slowest real account
	// sets the pace; a cheaper dummy would tell unknown names apart).
	dummy []byte
	// ext is asked about names the file does not list (accounts.go).
	ext AccountSource
}

type account struct {
	hash   []byte
	server bool
}

// LoadCredentials reads a credentials file, up to
// config.MaxCredentialsFileSize. Errors name file and line and never
// include a hash; every bad line is reported (up to maxCredentialErrors),
// joined, not only the first.
func LoadCredentials(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCredentials(config.LimitReader(f, config.MaxCredentialsFileSize, "a credentials file"), path)
}

// LoadCredentialsAt is LoadCredentials with its errors as
// config.FileErrors at the setting that names the file (one for a file
// that cannot be read, one for each bad line; errors.Join), so that
// each is placed at that setting's line like every other file's.
func LoadCredentialsAt(path string, setting ...any) (*Credentials, error) {
	c, err := LoadCredentials(path)
	if err != nil {
		return nil, errors.Join(credentialsFileErrors(err, setting...)...)
	}
	return c, nil
}

// maxCredentialErrors bounds the bad lines one load reports.
const maxCredentialErrors = 10

// credentialsFileErrors is err of LoadCredentials as config.FileErrors
// at the setting that names the file: one for a file that cannot be
// read, one for each bad line.
func credentialsFileErrors(err error, setting ...any) []error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return []error{config.NewFileError(pe.Path, err, setting...)}
	}
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, config.NewFileLineError(e, setting...))
		}
		return out
	}
	return []error{config.NewFileLineError(err, setting...)}
}

// parseCredentials reads the lines of a credentials file named path.
func parseCredentials(r io.Reader, path string) (*Credentials, error) {
	c := &Credentials{users: map[string]account{}}
	servers := map[string]string{} // folded server account name -> as written
	maxCost := 0
	var bad []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan() && len(bad) < maxCredentialErrors; n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
			bad = append(bad, fmt.Errorf("%s:%d: want name:bcrypt-hash[:server]", path, n))
			continue
		}
		cost, err := bcrypt.Cost([]byte(parts[1]))
		if err != nil {
			bad = append(bad, fmt.Errorf("%s:%d: the password of %q is not a bcrypt hash", path, n, parts[0]))
			continue
		}
		maxCost = max(maxCost, cost)
		if len(parts) == 3 && parts[2] != "server" {
			bad = append(bad, fmt.Errorf("%s:%d: unknown flag %q (server)", path, n, parts[2]))
			continue
		}
		if _, dup := c.users[parts[0]]; dup {
			bad = append(bad, fmt.Errorf("%s:%d: %q is listed twice", path, n, parts[0]))
			continue
		}
		if len(parts) == 3 {
			// A server account's name is its server id, which shadow
			// sessions compare without ASCII case (a host name): two
			// such names differing only in case would be two logins
			// for one server id.
			k := mailaddr.Fold(parts[0])
			if other, dup := servers[k]; dup {
				bad = append(bad, fmt.Errorf("%s:%d: server account %q differs from server account %q only in case: server ids compare without case", path, n, parts[0], other))
				continue
			}
			servers[k] = parts[0]
		}
		c.users[parts[0]] = account{hash: []byte(parts[1]), server: len(parts) == 3}
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Errorf("%s: %w", path, err))
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	if maxCost == 0 {
		maxCost = bcrypt.DefaultCost // no account: nothing to match
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("umbra-timing-equaliser"), maxCost)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.dummy = dummy
	return c, nil
}

// unknownUserHash is the hash a password for an unknown name is
// compared against.
func (c *Credentials) unknownUserHash() []byte { return c.dummy }

// exists reports whether name is an account (for logs: a name that is
// not one may be a password typed in the wrong field, and is not logged).
func (c *Credentials) exists(name string) bool {
	_, ok := c.users[name]
	return ok
}

var errBadCredentials = errors.New("invalid credentials")

// Check verifies a name and password and reports whether the account is a
// transport server's.
func (c *Credentials) Check(name, password string) (server bool, err error) {
	a, ok := c.users[name]
	hash := a.hash
	if !ok {
		hash = c.dummy
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return false, errBadCredentials
	}
	return a.server, nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl offers only as a client.
type loginServer struct {
	step     int
	username string
	auth     func(username, password string) error
}

func newLoginServer(auth func(username, password string) error) sasl.Server {
	return &loginServer{auth: auth}
}

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		if response != nil { // initial response carries the user name
			s.username = string(response)
			s.step = 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.auth(s.username, string(response))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}
