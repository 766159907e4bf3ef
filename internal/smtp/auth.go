package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/filelimit"
	"umbra/internal/mailaddr"
)

// Credentials are the accounts of a credentials file: one
// "name:bcrypt-hash[:server]" per line, '#' comments and blank lines
// ignored. The server flag marks transport server accounts (SPEC SR-1).
type Credentials struct {
	users map[string]account
	// dummy has the cost of the most expensive configured hash: a check
	// of it is timed at load (hashNanos), so that a refusal of an unknown
	// name, which computes no hash, takes as long as one of a real name
	// (the slowest real account sets the pace).
	dummy   []byte
	maxCost int // the dummy's cost
	// hashNanos is how long a check of a configured hash takes: measured
	// at load on the dummy, then followed (a moving average) by every
	// check of an account's password. A name that is no account waits
	// it instead of computing a hash (equalise).
	hashNanos atomic.Int64
	// ext is asked about names the file does not list (accounts.go).
	ext AccountSource
}

type account struct {
	hash   []byte
	cost   int
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

// ParseCredentials is LoadCredentials of the content data, read of path
// already (the console compares a file's content before it parses it).
func ParseCredentials(data []byte, path string) (*Credentials, error) {
	return parseCredentials(bytes.NewReader(data), path)
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

// parseCredentials reads the lines of a credentials file named path and
// makes the unknown-user dummy hash at the highest cost it lists.
func parseCredentials(r io.Reader, path string) (*Credentials, error) {
	c, maxCost, err := readCredentials(r, path)
	if err != nil {
		return nil, err
	}
	if maxCost == 0 {
		maxCost = bcrypt.DefaultCost // no account: nothing to match
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("umbra-timing-equaliser"), maxCost)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.dummy, c.maxCost = dummy, maxCost
	start := time.Now()
	bcrypt.CompareHashAndPassword(dummy, []byte("umbra-timing-equaliser"))
	c.hashNanos.Store(int64(time.Since(start)))
	return c, nil
}

// readCredentials is parseCredentials without the dummy hash: the
// accounts of the file and the highest bcrypt cost among them (0 when
// there is none), or every bad line, each at its line.
func readCredentials(r io.Reader, path string) (*Credentials, int, error) {
	c := &Credentials{users: map[string]account{}}
	servers := map[string]string{} // folded server account name -> as written
	maxCost := 0
	var bad []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan() && len(bad) < maxCredentialErrors; n++ {
		line := sc.Text()
		if n == 1 {
			line = filelimit.TrimBOMString(line) // "UTF-8 with BOM"
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
			bad = append(bad, fmt.Errorf("%s:%d: want name:bcrypt-hash[:server]", path, n))
			continue
		}
		if r, bad1 := filelimit.InvisibleStart(parts[0]); bad1 {
			bad = append(bad, fmt.Errorf("%s:%d: the name begins with the invisible character %U, which no login can type", path, n, r))
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
		c.users[parts[0]] = account{hash: []byte(parts[1]), cost: cost, server: len(parts) == 3}
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Errorf("%s: %w", path, err))
	}
	if len(bad) > 0 {
		return nil, 0, errors.Join(bad...)
	}
	return c, maxCost, nil
}

// passwordHashes counts the password hashes computed (tests hold the
// CPU an attacker can make the server spend to it).
var passwordHashes atomic.Int64

// hashTime is how long a password check of a configured hash takes.
func (c *Credentials) hashTime() time.Duration { return time.Duration(c.hashNanos.Load()) }

// unknownUserHash is the hash whose check time an unknown name's
// refusal waits (equalise).
func (c *Credentials) unknownUserHash() []byte { return c.dummy }

// exists reports whether name is an account (for logs: a name that is
// not one may be a password typed in the wrong field, and is not logged).
func (c *Credentials) exists(name string) bool {
	_, ok := c.users[name]
	return ok
}

var errBadCredentials = errors.New("invalid credentials")

// Check verifies a name and password and reports whether the account is a
// transport server's. A name that is no account computes no hash: it
// waits as long as a check takes (equalise) and is refused, so that
// made-up names cost the server no CPU and answer no faster.
func (c *Credentials) Check(name, password string) (server bool, err error) {
	return c.check(context.Background(), name, password)
}

func (c *Credentials) check(ctx context.Context, name, password string) (server bool, err error) {
	a, ok := c.users[name]
	if !ok {
		c.equalise(ctx)
		return false, errBadCredentials
	}
	passwordHashes.Add(1)
	start := time.Now()
	err = bcrypt.CompareHashAndPassword(a.hash, []byte(password))
	if a.cost == c.maxCost {
		// Follow what a check costs now (the machine's load), so that
		// equalise keeps up: a moving average over about 8 checks.
		d, old := int64(time.Since(start)), c.hashNanos.Load()
		c.hashNanos.Store(old + (d-old)/8)
	}
	if err != nil {
		return false, errBadCredentials
	}
	return a.server, nil
}

// equalise waits as long as a password check of the most expensive
// configured hash takes (or until ctx ends): the answer to a name that
// is no account, or to an attempt of a locked-out source, then comes
// after the time a check would have taken, without the check.
func (c *Credentials) equalise(ctx context.Context) {
	d := c.hashTime()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mayBeServer reports whether name may be a transport server account:
// one the file lists as such, or, for a name the file does not decide, an
// account source that can hold server accounts. Only such a name gets
// its password checked in a lock-out of its source.
func (c *Credentials) mayBeServer(name string) bool {
	if a, ok := c.users[name]; ok {
		return a.server
	}
	return c.ext != nil && !c.listsVariant(name) && c.ext.HasServer()
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
