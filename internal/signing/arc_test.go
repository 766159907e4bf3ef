package signing

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/header"
)

// dkimpyScript verifies a message's DKIM signatures and ARC chain with
// dkimpy (Debian python3-dkim, an independent implementation of both),
// answering key lookups from a JSON map instead of DNS. It prints one
// JSON object: {"dkim": [true|false per signature], "arc": "pass"|…}.
const dkimpyScript = `
import sys, json, dkim
keys = json.load(open(sys.argv[1]))
msg = open(sys.argv[2], 'rb').read()
def txt(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    v = keys.get(name.rstrip('.').lower())
    return v.encode() if v is not None else None
d = dkim.DKIM(msg)
sigs = [i for i, (k, v) in enumerate(d.headers) if k.lower() == b'dkim-signature']
def one(n):
    try:
        return bool(d.verify(idx=n, dnsfunc=txt))
    except Exception:
        return False
res = [one(n) for n in range(len(sigs))]
cv, results, reason = dkim.arc_verify(msg, dnsfunc=txt)
print(json.dumps({"dkim": res, "arc": cv.decode(), "reason": str(reason)}))
`

type dkimpyResult struct {
	DKIM   []bool `json:"dkim"`
	ARC    string `json:"arc"`
	Reason string `json:"reason"`
}

func dkimpyVerify(t *testing.T, z zone, msg []byte) dkimpyResult {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = needTool(t, "python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	keys := filepath.Join(dir, "keys.json")
	eml := filepath.Join(dir, "msg.eml")
	kj, _ := json.Marshal(map[string]string(z))
	for p, data := range map[string][]byte{script: []byte(dkimpyScript), keys: kj, eml: msg} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command(py, "-c", "import dkim").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-dkim is not installed (.ci/run installs it): %v", err)
		}
		t.Skip("python3-dkim is not installed")
	}
	out, err := exec.Command(py, script, keys, eml).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	var r dkimpyResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("dkimpy output %q: %v", out, err)
	}
	return r
}

const forwarded = "Authentication-Results: mx.umbra.test; spf=pass smtp.mailfrom=alice@example.org;\r\n" +
	"\tdkim=none; dmarc=none header.from=example.org; arc=none\r\n" +
	"Received: from mail.example.org by mx.umbra.test; Mon, 30 Nov 2026 17:00:01 +0000\r\n" + plain

func TestARCSealVerifiesWithDkimpy(t *testing.T) {
	rk := testRSA(t)
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "umbra.test", "arc1", rk)
	z.add(t, "forwarder.test", "fw", rk)
	z.add(t, "umbra.test", "dk1", ed)
	clock := func() time.Time { return time.Unix(1796000000, 0) }
	s, err := NewSigner(Options{Now: clock, ARC: &Sealer{Domain: "umbra.test", Selector: "arc1", Signer: rk, AuthServID: "mx.umbra.test"}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("first set: cv=none, chain passes", func(t *testing.T) {
		out, res, err := s.Sign([]byte(forwarded), "")
		if err != nil || res.ARC != 1 {
			t.Fatalf("sign: %v %+v", err, res)
		}
		if !bytes.Contains(out, []byte("ARC-Authentication-Results: i=1; mx.umbra.test; spf=pass")) {
			t.Fatalf("no AAR copied from this server's Authentication-Results:\n%s", out)
		}
		if !bytes.Contains(out, []byte("cv=none")) {
			t.Fatalf("first seal without cv=none:\n%s", out)
		}
		if r := dkimpyVerify(t, z, out); r.ARC != "pass" {
			t.Fatalf("dkimpy: chain %s (%s)\n%s", r.ARC, r.Reason, out)
		}
		tampered := bytes.Replace(out, []byte("quarterly"), []byte("annual"), 1)
		if r := dkimpyVerify(t, z, tampered); r.ARC == "pass" {
			t.Fatal("dkimpy passes a chain over an altered Subject")
		}
		tampered = bytes.Replace(out, []byte("spf=pass smtp"), []byte("spf=fail smtp"), 1)
		if r := dkimpyVerify(t, z, tampered); r.ARC == "pass" {
			t.Fatal("dkimpy passes a chain over an altered ARC-Authentication-Results")
		}
	})

	t.Run("second set over another sealer's: cv=pass", func(t *testing.T) {
		other, err := NewSigner(Options{Now: clock, ARC: &Sealer{Domain: "forwarder.test", Selector: "fw", Signer: rk, AuthServID: "fw.forwarder.test"}})
		if err != nil {
			t.Fatal(err)
		}
		first, res, err := other.Sign([]byte(strings.Replace(forwarded, "mx.umbra.test", "fw.forwarder.test", 2)), "")
		if err != nil || res.ARC != 1 {
			t.Fatalf("first sealer: %v %+v", err, res)
		}
		// umbra receives it, its inbound checks verify the chain and say so.
		in := append([]byte("Authentication-Results: mx.umbra.test; arc=pass (i=1 d=forwarder.test); spf=pass smtp.mailfrom=fw.forwarder.test\r\n"), first...)
		out, res, err := s.Sign(in, "")
		if err != nil || res.ARC != 2 {
			t.Fatalf("sign: %v %+v", err, res)
		}
		if !bytes.Contains(out, []byte("i=2")) || !bytes.Contains(out, []byte("cv=pass")) {
			t.Fatalf("second seal without i=2 cv=pass:\n%s", out)
		}
		if r := dkimpyVerify(t, z, out); r.ARC != "pass" {
			t.Fatalf("dkimpy: chain %s (%s)\n%s", r.ARC, r.Reason, out)
		}
	})

	t.Run("no arc result for an existing chain: not sealed", func(t *testing.T) {
		other, _ := NewSigner(Options{Now: clock, ARC: &Sealer{Domain: "forwarder.test", Selector: "fw", Signer: rk, AuthServID: "mx.umbra.test"}})
		first, _, _ := other.Sign([]byte(forwarded), "")
		in := append([]byte("Authentication-Results: mx.umbra.test; spf=pass smtp.mailfrom=x@forwarder.test\r\n"), first...)
		out, res, err := s.Sign(in, "")
		if err != nil || res.ARC != 0 || res.NoARC == "" || !bytes.Equal(out, in) {
			t.Fatalf("sealed without knowing the chain's state: %v %+v", err, res)
		}
	})

	t.Run("someone else's Authentication-Results only: not sealed", func(t *testing.T) {
		in := strings.Replace(forwarded, "mx.umbra.test;", "mx.other.test;", 1)
		out, res, err := s.Sign([]byte(in), "")
		if err != nil || res.ARC != 0 || string(out) != in {
			t.Fatalf("sealed a message this server did not authenticate: %v %+v", err, res)
		}
	})

	t.Run("with a DKIM signature: both verify", func(t *testing.T) {
		both, err := NewSigner(Options{Now: clock, Keys: []Key{{Domain: "umbra.test", Selector: "dk1", Signer: ed}},
			ARC: &Sealer{Domain: "umbra.test", Selector: "arc1", Signer: rk, AuthServID: "mx.umbra.test"}})
		if err != nil {
			t.Fatal(err)
		}
		out, res, err := both.Sign([]byte(forwarded), "bounces@umbra.test")
		if err != nil || res.DKIM != "umbra.test" || res.ARC != 1 {
			t.Fatalf("sign: %v %+v", err, res)
		}
		r := dkimpyVerify(t, z, out)
		if r.ARC != "pass" || len(r.DKIM) != 1 || !r.DKIM[0] {
			t.Fatalf("dkimpy: %+v\n%s", r, out)
		}
		if ok, failed := verify(t, z, out); len(ok) != 1 {
			t.Fatalf("library: %v", failed)
		}
	})

	t.Run("ed25519 sealer refused", func(t *testing.T) {
		// RFC 8617 §4.1.3 sets rsa-sha256 as ARC's algorithm; dkimpy, as
		// deployed verifiers, refuses ed25519-sha256 in ARC sets.
		if _, err := NewSigner(Options{ARC: &Sealer{Domain: "umbra.test", Selector: "arced", Signer: ed, AuthServID: "mx.umbra.test"}}); err == nil {
			t.Fatal("an Ed25519 ARC key was accepted")
		}
	})
}

// TestDKIMVerifiesWithDkimpy: a second independent verifier for the
// DKIM signatures (RSA and Ed25519).
func TestDKIMVerifiesWithDkimpy(t *testing.T) {
	rk := testRSA(t)
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "example.org", "r", rk)
	z.add(t, "ed.example.org", "e", ed)
	s, _ := NewSigner(Options{Keys: []Key{{Domain: "example.org", Selector: "r", Signer: rk}, {Domain: "ed.example.org", Selector: "e", Signer: ed}}})
	for _, from := range []string{"alice@example.org", "alice@ed.example.org"} {
		out, _, err := s.Sign([]byte(strings.Replace(plain, "alice@example.org", from, 1)), "")
		if err != nil {
			t.Fatal(err)
		}
		if r := dkimpyVerify(t, z, out); len(r.DKIM) != 1 || !r.DKIM[0] {
			t.Fatalf("%s: dkimpy: %+v\n%s", from, r, out)
		}
		if r := dkimpyVerify(t, z, bytes.Replace(out, []byte("Bob"), []byte("Rob"), 1)); len(r.DKIM) != 1 || r.DKIM[0] {
			t.Fatalf("%s: dkimpy verifies an altered body: %+v", from, r)
		}
	}
}

// TestARCSealsOnlyThisServersID (EDGE-1): the sealer attests an
// Authentication-Results field as this server's verdict only when its
// authserv-id, read as the front door reads it (header.AuthservID,
// RFC 8601 §2.2), is this server's: the field umbra writes, and the same
// id in another case, with a final dot, a comment after it or quoted.
// A lookalike — one the door removes as a forgery because some lenient
// reader would take it for umbra's (a Unicode space or a tspecial glued
// on, a comment inside, a backslash), or another name — is no verdict of
// this server's, and is never sealed as one: a copy that came by a
// connector without the door's removal keeps it, unsealed.
func TestARCSealsOnlyThisServersID(t *testing.T) {
	const own = "mx.umbra.test"
	s, err := NewSigner(Options{ARC: &Sealer{Domain: "umbra.test", Selector: "arc1", Signer: testRSA(t), AuthServID: own}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   string
		want bool
	}{
		{own, true},
		{"MX.umbra.test.", true},
		{own + " (umbra) 1", true},
		{`"` + own + `"`, true},
		{own + "\u00a0forged", false}, // a no-break space inside the token
		{own + "\u2003forged", false}, // an em space
		{own + "\u0085forged", false}, // NEL
		{"(c) " + own + "\u3000x", false},
		{own + "/1", false},
		{"mx.umbra(c).test", false}, // "mx.umbra" and junk to the door
		{"mx\\.umbra.test", false},
		{own + ".example", false},
		{"other.test", false},
	} {
		msg := []byte("Authentication-Results: " + c.id + "; spf=pass smtp.mailfrom=alice@example.org\r\n" + plain)
		if c.want && len(header.UmbraAuthResults(msg, own)) != 1 {
			t.Fatalf("%q: the front door does not read it as umbra's", c.id)
		}
		_, res, err := s.Sign(msg, "")
		if err != nil {
			t.Fatalf("%q: %v", c.id, err)
		}
		if sealed := res.ARC > 0; sealed != c.want {
			t.Errorf("%q: sealed %v, want %v", c.id, sealed, c.want)
		}
	}
}
