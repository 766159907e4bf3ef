package smtp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// The outbound login (RFC 4954) is umbra's own exchange, not go-smtp's
// Client.Auth, which sends AUTH whatever the EHLO reply offered, and
// answers any reply it does not take (a 535 too) with "*", a line RFC
// 4954 §4 allows only as the answer to a 334 challenge. Here:
//   - credentials go only to a host whose EHLO reply (the one after
//     STARTTLS) offered AUTH with a mechanism umbra has (PLAIN, else
//     LOGIN); otherwise nothing is sent and the error says
//     "AUTH not offered: …" (ErrAuthNotOffered);
//   - never over a session without TLS (ErrAuthWithoutTLS, Login): PLAIN
//     and LOGIN carry the password as it is;
//   - "*" only in answer to a 334 the client cannot answer;
//   - any reply but 235 and 334 ends the exchange as the host's refusal
//     (a *gosmtp.SMTPError), the session still in step, so the caller
//     can end it with QUIT. A reply not read whole leaves the session
//     out of step: it is closed.
//
// go-smtp's Client.Auth stays reachable through the embedded client
// (c.Client.Auth); no code of umbra calls it or takes it as a value:
// cmd/umbra's TestSMTP4NoGoSMTPClientAuth finds any such use by type.

// ErrAuthNotOffered is the error of a login not attempted because the
// next hop offered no AUTH, or no mechanism umbra has.
var ErrAuthNotOffered = errors.New("AUTH not offered")

// ErrAuthWithoutTLS is the error of a login not attempted because the
// session has no TLS: the credentials would go in the clear.
var ErrAuthWithoutTLS = errors.New("AUTH not sent without TLS")

// authRounds bounds the challenges of one login (LOGIN needs two).
const authRounds = 8

// Login logs in as username with password, by PLAIN when the next hop
// offers it, else by LOGIN. See the rules above.
func (c *Client) Login(username, password string) error {
	if c.EHLORefused != "" {
		return fmt.Errorf("%w: %s", ErrAuthNotOffered, ehloRefusedText(c.EHLORefused))
	}
	ok, params := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("%w: the EHLO reply lists no AUTH", ErrAuthNotOffered)
	}
	if !c.TLS {
		return fmt.Errorf("%w: the session has no TLS", ErrAuthWithoutTLS)
	}
	var a sasl.Client
	switch mechs := strings.Fields(strings.ToUpper(params)); {
	case hasWord(mechs, sasl.Plain):
		a = sasl.NewPlainClient("", username, password)
	case hasWord(mechs, sasl.Login):
		a = &loginClient{username: username, password: password}
	default:
		return fmt.Errorf("%w: AUTH %s offers neither PLAIN nor LOGIN", ErrAuthNotOffered, params)
	}
	return c.Auth(a)
}

// Auth logs in with a, by the rules above but one: the channel is the
// caller's to judge (tests log in over loopback without TLS). Login,
// which delivery uses, refuses a session without TLS. It replaces
// go-smtp's Auth.
func (c *Client) Auth(a sasl.Client) error {
	if c.EHLORefused != "" {
		return fmt.Errorf("%w: %s", ErrAuthNotOffered, ehloRefusedText(c.EHLORefused))
	}
	mech, resp, err := a.Start()
	if err != nil {
		return err
	}
	ok, params := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("%w: the EHLO reply lists no AUTH", ErrAuthNotOffered)
	}
	if !hasWord(strings.Fields(strings.ToUpper(params)), strings.ToUpper(mech)) {
		return fmt.Errorf("%w: AUTH %s does not offer %s", ErrAuthNotOffered, params, mech)
	}
	line := "AUTH " + mech
	if resp != nil {
		line += " " + encodeSASL(resp)
	}
	defer c.awaitingReply()()
	conn, br := c.sc.Conn, c.sc.replies()
	defer conn.SetDeadline(time.Time{})
	for round := 0; ; round++ {
		conn.SetDeadline(time.Now().Add(c.CommandTimeout))
		if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
			conn.Close()
			return replyTo("AUTH", err)
		}
		code, texts, err := readReplyCode(br)
		if err != nil {
			conn.Close() // out of step: never speaks again
			return replyTo("AUTH", err)
		}
		switch {
		case code == 235:
			return nil
		case code != 334:
			return replyOf(code, texts)
		}
		// A challenge: answered, or cancelled with "*" (RFC 4954 §4).
		var next []byte
		challenge, err := base64.StdEncoding.DecodeString(strings.Join(texts, ""))
		if err == nil && round < authRounds {
			next, err = a.Next(challenge)
		} else if err == nil {
			err = errors.New("too many challenges")
		}
		if err != nil {
			conn.SetDeadline(time.Now().Add(c.CommandTimeout))
			if _, werr := conn.Write([]byte("*\r\n")); werr != nil {
				conn.Close()
				return fmt.Errorf("AUTH %s cancelled: %v", mech, err)
			}
			if _, _, rerr := readReplyCode(br); rerr != nil {
				conn.Close()
			}
			return fmt.Errorf("AUTH %s cancelled: challenge %d: %v", mech, round+1, err)
		}
		line = encodeSASL(next)
	}
}

// encodeSASL is a SASL response as sent: base64, "=" for an empty one
// (RFC 4954 §4).
func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func hasWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// loginClient is the LOGIN mechanism as servers commonly run it: no
// initial response, the user name in answer to the challenge
// "Username:", the password to "Password:" (go-sasl's sends the name as
// an initial response, which not every server takes).
type loginClient struct{ username, password string }

func (l *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (l *loginClient) Next(challenge []byte) ([]byte, error) {
	switch strings.ToLower(string(challenge)) {
	case "username:", "user name", "username":
		return []byte(l.username), nil
	case "password:", "password":
		return []byte(l.password), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}
