package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// message_authentication: the profile fills unset keys, explicit keys
// win, the authserv-id defaults to the server's name, and a connector
// without the block checks nothing.
func TestMessageAuthenticationDefaults(t *testing.T) {
	c, err := Parse([]byte(`server: {name: MX.Example.Test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:25"]
    message_authentication: {profile: internet, arc: reject}
  - name: internal
    bindings: ["127.0.0.1:26"]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, internal := c.ReceiveConnectors[0].MessageAuthentication, c.ReceiveConnectors[1].MessageAuthentication
	want := MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "header", HeloSPF: "header",
		DKIM: "header", ARC: "reject", DMARC: "policy", MaxSignatures: DefaultMsgAuthMaxSignatures, Timeout: Duration(DefaultMsgAuthTimeout)}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("internet = %+v\nwant %+v", in, want)
	}
	if !in.Enabled() || internal.Enabled() || internal.Profile != "off" || internal.DMARC != "off" {
		t.Errorf("internal = %+v", internal)
	}
	for _, bad := range []struct{ block, msg string }{
		{"{profile: edge}", `message_authentication.profile "edge"`},
		{"{spf: policy}", `message_authentication.spf "policy"`},
		{`{authserv_id: "a b"}`, `message_authentication.authserv_id "a b"`},
		{"{max_signatures: -1}", "max_signatures -1 is outside its range"},
		{"{trusted_arc_sealers: [lists.test]}", "trusted_arc_sealers needs arc checked"},
		{"{arc: header, trusted_arc_sealers: [\"not a domain\"]}", `"not a domain" is not a domain`},
		{"{dkim: header, unknown: 1}", "unknown"},
	} {
		_, err := Parse([]byte("server: {name: mx.example.test}\nreceive_connectors:\n  - name: a\n    bindings: [\"127.0.0.1:25\"]\n    message_authentication: "+bad.block+"\n"), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), bad.msg) || !strings.Contains(err.Error(), "t.yaml:5") {
			t.Errorf("%s: %v, want %q at line 5", bad.block, err, bad.msg)
		}
	}
}

// A connector whose Authentication-Results the ARC sealer would not
// recognise is a configuration error, not a silent lack of seals.
func TestAuthservIDMustMatchARCSealer(t *testing.T) {
	base := "server: {name: MX.example.test}\n" +
		"dkim:\n  arc: {domain: example.test, selector: a1, key_file: /nonexistent/k}\n" +
		"receive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:25\"]\n    message_authentication: {profile: internet%s}\n"
	if _, err := Parse([]byte(fmt.Sprintf(base, "")), "t.yaml"); err != nil && strings.Contains(err.Error(), "authserv_id") {
		t.Fatalf("defaults disagree: %v", err)
	}
	_, err := Parse([]byte(fmt.Sprintf(base, ", authserv_id: other.example.test")), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "differs from dkim.arc.authserv_id") || !strings.Contains(err.Error(), "t.yaml:") {
		t.Fatalf("err = %v", err)
	}
}
