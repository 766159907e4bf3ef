package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// verifiedReceipt is a fakeReceipt that also opens links for REQUIRETLS
// copies (VerifiedReceiptShadow): none of its candidates has a
// certificate that verifies when noVerified is set.
type verifiedReceipt struct {
	fakeReceipt
	noVerified bool
	verified   int
}

func (f *verifiedReceipt) OpenVerified(ctx context.Context, pref string) (ReceiptLink, error) {
	f.verified++
	if f.noVerified {
		return nil, errors.New("no shadow server took the copy: hub-b: REQUIRETLS: no TLS verified for the shadow server's name")
	}
	return f.fakeReceipt.Open(ctx, pref)
}

// TLS-1, RFC 8689, SR-17: a REQUIRETLS message's copy on receipt asks
// for a shadow session whose certificate verifies (OpenVerified), before
// the commit; when no candidate has one, the connector's shadow-failure
// rule decides as for any copy no server took: 451 4.4.0 with
// reject_on_shadow_failure (nothing committed), else held here only. A
// message without REQUIRETLS takes any session.
func TestRequireTLSCopyOnReceiptAsksVerified(t *testing.T) {
	cert, key, pool := testCert(t)
	for _, tc := range []struct {
		name              string
		reject, requireTL bool
		want              string
		queued            int
	}{
		{"REQUIRETLS, reject", true, true, "451 4.4.0", 0},
		{"REQUIRETLS, held here", false, true, "250", 1},
		{"no REQUIRETLS", true, false, "250", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
			q := &blockingGoneQueue{}
			extra := fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n    shadow_on_receipt: prefer-remote\n", cert, key)
			if tc.reject {
				extra += "    reject_on_shadow_failure: true\n"
			}
			r := &verifiedReceipt{fakeReceipt: fakeReceipt{peer: peer}, noVerified: true}
			s := receiptServer(t, q, extra, r)
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			d.startTLS(pool)
			d.cmd("EHLO client.example", "250")
			param := ""
			if tc.requireTL {
				param = " REQUIRETLS"
			}
			d.cmd("MAIL FROM:<a@example.org>"+param, "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", tc.want)
			if tc.requireTL && tc.want == "250" && !strings.Contains(got, "no shadow copy") {
				t.Fatalf("reply %q, want held here only", got)
			}
			if q.count() != tc.queued {
				t.Fatalf("queued %d, want %d", q.count(), tc.queued)
			}
			if wantV := map[bool]int{true: 1, false: 0}[tc.requireTL]; r.verified != wantV || r.opened != 1-wantV {
				t.Fatalf("verified opens %d, plain opens %d; want %d verified", r.verified, r.opened, wantV)
			}
		})
	}
}
