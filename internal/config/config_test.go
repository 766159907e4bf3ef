package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestEmbeddedDefault(t *testing.T) {
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ReceiveConnectors[0].Bindings[0]; got != "127.0.0.1:2525" {
		t.Errorf("binding = %q", got)
	}
	if len(c.SendConnectors) != 0 {
		t.Errorf("the default must relay nothing, has %d send connectors", len(c.SendConnectors))
	}
	if !strings.HasSuffix(c.Mailbox.Maildir, filepath.Join("umbra-data", "maildir")) {
		t.Errorf("maildir = %q", c.Mailbox.Maildir)
	}
	// SPEC §8 defaults.
	tr := c.Transport
	if tr.ShadowHeartbeatTimeout.D() != 300*time.Second || tr.ShadowHeartbeatRetryCount != 3 ||
		tr.MessageExpiration.D() != 48*time.Hour || tr.DelayNotification.D() != 4*time.Hour ||
		!tr.ShadowRedundancyEnabled || c.ReceiveConnectors[0].MaxAcknowledgementDelay.D() != 30*time.Second {
		t.Errorf("defaults differ from SPEC §8: %+v, ack delay %v", tr, c.ReceiveConnectors[0].MaxAcknowledgementDelay)
	}
}

func TestExplicitZeroSurvivesDefaults(t *testing.T) {
	c, err := Parse([]byte(`
server: {name: a.example.test}
transport:
  shadow_redundancy_enabled: false
  delay_notification: 0
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
    max_acknowledgement_delay: 0s
`), "z.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport.ShadowRedundancyEnabled || c.Transport.DelayNotification != 0 ||
		c.ReceiveConnectors[0].MaxAcknowledgementDelay != 0 {
		t.Errorf("explicit zero values were overwritten: %+v", c.Transport)
	}
}

// A send connector's MX limits default to 5 addresses and 2 sessions per
// attempt; 0 written in the file means no bound and stays 0.
func TestSendConnectorMXLimits(t *testing.T) {
	c, err := Parse([]byte(`
server: {name: a.example.test}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
send_connectors:
  - name: defaults
    address_spaces: [{domain: "a.example", cost: 1}]
  - name: unbounded
    address_spaces: [{domain: "b.example", cost: 1}]
    mx_address_limit: 0
    mx_session_limit: 0
  - name: set
    address_spaces: [{domain: "c.example", cost: 1}]
    mx_address_limit: 10
    mx_session_limit: 3
`), "mx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]int{{DefaultMXAddressLimit, DefaultMXSessionLimit}, {0, 0}, {10, 3}} {
		sc := c.SendConnectors[i]
		if got := [2]int{sc.MXAddressLimit, sc.MXSessionLimit}; got != want {
			t.Errorf("%s: limits %v, want %v", sc.Name, got, want)
		}
	}
	if DefaultMXAddressLimit != 5 || DefaultMXSessionLimit != 2 {
		t.Errorf("defaults %d, %d; the README promises 5 and 2", DefaultMXAddressLimit, DefaultMXSessionLimit)
	}
}

// Each bad file must fail with the given error, file and line included.
func TestBadConfigs(t *testing.T) {
	want := map[string]string{
		"unknown-key.yaml":       `unknown-key.yaml:3: unknown key "colour" in server`,
		"bad-duration.yaml":      `bad-duration.yaml:4: transport.message_expiration: invalid duration "2 weeks"`,
		"open-relay-typo.yaml":   `open-relay-typo.yaml:7: unknown right "relays"`,
		"no-mailbox.yaml":        `no-mailbox.yaml:3: authoritative domains need mailbox.maildir or mailbox.lmtp`,
		"dup-connector.yaml":     `dup-connector.yaml:6: receive connector "x" is defined twice`,
		"ambiguous-binding.yaml": `ambiguous-binding.yaml:9: connectors "a" and "b" both serve 127.0.0.1:25`,
		"insecure-auth.yaml":     `insecure-auth.yaml:6: auth without TLS needs auth.allow_insecure`,
		"syntax.yaml":            `syntax.yaml:2: did not find expected key`,
		"bad-size.yaml":          `bad-size.yaml:7: receive_connectors[0].limits.max_message_size: invalid size "lots"`,
		"wrong-type.yaml":        `wrong-type.yaml:4: transport.max_active: many is not a whole number`,
		"bad-send.yaml":          `bad-send.yaml:9: address space "foo..bar" is not a domain`,
		"bad-postmaster.yaml":    `bad-postmaster.yaml:3: server.postmaster "root at example.test" is not a mailbox address`,
		"bad-auth-throttle.yaml": `bad-auth-throttle.yaml:8: auth_throttle.max_delay must be at least delay`,

		// Recipient validation (SMTP-6).
		"no-directory.yaml":          `no-directory.yaml:4: accepted domain "example.test" is validated by directory but no directory is configured`,
		"callout-authoritative.yaml": `callout-authoritative.yaml:5: accepted domain "example.test" is delivered here: a callout has no next hop`,
		"bad-validation.yaml":        `bad-validation.yaml:5: recipient_validation must be directory, callout or off, not "maybe"`,
		"bad-recipient-entry.yaml":   `bad-recipient-entry.yaml:13: recipients.addresses: "bob" is not user@domain or @domain`,
		"bare-newlines.yaml":         `bare-newlines.yaml:6: bare_newlines "allow": want reject or normalize`,
		"shadow-on-receipt.yaml":     `shadow-on-receipt.yaml:6: shadow_on_receipt "prefer-local": want off, prefer-remote, remote-only or local-only`,
		"msgauth.yaml":               `msgauth.yaml:8: message_authentication.dmarc "reject": want off, header, quarantine or policy`,
		// The scheduler's windows (issue 15).
		"bad-destination-concurrency.yaml": `bad-destination-concurrency.yaml:4: transport.initial_destination_concurrency -1 is outside its range: a whole number from 1 to 100000; 0 or absent: the default`,
		// DKIM signing (issue 12).
		"dkim-selector.yaml": `dkim-selector.yaml:6: dkim.keys: selector "bad selector" is not a DNS name`,
		"dkim-headers.yaml":  `dkim-headers.yaml:6: dkim.headers must include From`,
		// Outbound TLS (issue 13).
		"mta-sts-publish.yaml":       `mta-sts-publish.yaml:8: outbound_tls.mta_sts_publish.mode must be enforce, testing or none, not "strict"`,
		"dane-without-trust-ad.yaml": `dane-without-trust-ad.yaml:6: outbound_tls.dane needs dns.trust_ad`,
		"mta-sts-refresh-zero.yaml":  `mta-sts-refresh-zero.yaml:5: outbound_tls.mta_sts_refresh_interval must be positive`,
		// An IP literal with an octet above 255 is neither an address nor
		// a host name (its top label is all digits): refused before any
		// lookup could be made of it.
		"smart-host-numeric.yaml": `smart-host-numeric.yaml:10: smart host "999.1.1.1:25": the host is not a host name or an IP address`,
		// An IPv6 zone names an interface of one machine: no smart host
		// carries one, bracketed or not (edge20 item 5).
		"smart-host-zone.yaml":   `smart-host-zone.yaml:10: smart host "[fe80::1%eth0]:25": not HOST[:PORT]`,
		"mx-limit-negative.yaml": `mx-limit-negative.yaml:11: send_connectors[0].mx_address_limit -1 is outside its range: a whole number from 0 to 1000; 0 or absent: no bound`,
		// A fraction is refused, not truncated to 0, "no bound" (NEW-1).
		"mx-limit-fraction.yaml": `mx-limit-fraction.yaml:11: send_connectors[0].mx_address_limit: 0.5 is not a whole number`,
		// A command line is buffered whole before it is judged: a bound
		// past 1 MiB per line and session is no bound (rt28).
		"line-length-huge.yaml": `line-length-huge.yaml:7: receive_connectors[0].limits.max_line_length must be at most 1048576`,
		// accept-xshadow is a transport server's right: given to anonymous
		// or authenticated sessions it would only advertise XSHADOW to
		// them (rt28 F5).
		"xshadow-anonymous.yaml":     `xshadow-anonymous.yaml:7: accept-xshadow in permissions.anonymous`,
		"xshadow-authenticated.yaml": `xshadow-authenticated.yaml:10: accept-xshadow in permissions.authenticated`,
		// An internationalised domain is compared as its A-label: an
		// invalid one is refused at its line, and its two spellings
		// are one domain (dsn12).
		"bad-idn.yaml": `bad-idn.yaml:4: accepted domain "xn--zz.example": invalid internationalized domain name label xn--zz`,
		"dup-idn.yaml": `dup-idn.yaml:6: accepted domain "XN--BCHER-KVA.example" is listed twice`,
		// A name umbra gives to its own next hops (an operator's
		// redirect) is no send connector's.
		"reserved-connector-name.yaml": `reserved-connector-name.yaml:7: send connector name "redirect" is reserved`,
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(want) {
		t.Errorf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), want[name]) || want[name] == "" {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want[name])
			}
		})
	}
	// bad-send.yaml has two problems; both are reported, in line order.
	_, err := Load("testdata/bad/bad-send.yaml")
	if es, ok := err.(Errors); !ok || len(es) != 2 || es[0].Line > es[1].Line {
		t.Errorf("want two errors in line order, got %v", err)
	}
}

// On an externally secured connector every session is a transport
// server: accept-xshadow may be granted to every class there.
func TestXShadowRightOnExternallySecured(t *testing.T) {
	_, err := Parse([]byte(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["10.0.0.0/8"] # relay for every session: never from public addresses (SMTP-3)
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow], authenticated: [accept-xshadow]}
    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}
`), "es.yaml")
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "0": 0, "300s": 5 * time.Minute,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5s", "2", "d", "xd", "1d-1h", "2 weeks"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"36MiB": 36 << 20, "1048576": 1 << 20, "10MB": 10e6, "512 KiB": 512 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
	// The error quotes the value as written, unit and all (rt22).
	for _, in := range []string{"100XB", "50 KiBB", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseSize(%q): %v, want the value quoted whole", in, err)
		}
	}
}

// FuzzParse seeds from the small files: with the full example configs as
// seeds the fuzzing engine manages only a few executions a second (the
// examples themselves are loaded by TestExampleConfigsLoad).
func FuzzParse(f *testing.F) {
	f.Add(EmbeddedDefault())
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error without file name: %v", err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "2d", "1d12h", "0", "4h", "-1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("negative %v from %q", d, s)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

func TestTopologyFiles(t *testing.T) {
	if _, err := LoadTopology("../../configs/topology/example.yaml"); err != nil {
		t.Fatalf("example topology: %v", err)
	}
	want := map[string]string{
		"unknown-site.yaml":       `unknown-site.yaml:5: site link "a-b" names unknown site "b"`,
		"duplicate-server.yaml":   `duplicate-server.yaml:4: server "hub1" is defined twice`,
		"bad-role.yaml":           `bad-role.yaml:3: server role must be hub, edge, mailbox or legacy, not "router"`,
		"unknown-key.yaml":        `unknown-key.yaml:3: unknown key "hubsite" in sites[0] ("a")`,
		"unknown-database.yaml":   `unknown-database.yaml:3: recipients "example.com" map to unknown database "DB9"`,
		"bad-source-address.yaml": `bad-source-address.yaml:7: server "hub1": source address "not-an-ip" is not an IP address or CIDR prefix`,

		// Topology validation is total (RT-12, issue 11): ranges,
		// references and the graph, each at its line.
		"rgc-negative-cost.yaml":         `rgc-negative-cost.yaml:8: routing_group_connectors[0].cost: -5 is refused: a routing group connector's cost is 1 to 100; without the key the cost is 1`,
		"rgc-no-bridgehead.yaml":         `rgc-no-bridgehead.yaml:6: routing group connector "to-rg1" joins the modern group and needs a bridgehead in source_servers`,
		"unreachable-site.yaml":          `unreachable-site.yaml:4: site "c" cannot be reached from site "a" over site links`,
		"unreachable-routing-group.yaml": `unreachable-routing-group.yaml:6: routing group "rg1" of legacy server "ex1" cannot be reached from the modern group`,
		"link-cost-range.yaml":           `link-cost-range.yaml:5: site link cost must be 1 to 99999`,
		"database-on-hub.yaml":           `database-on-hub.yaml:4: database "DB1" is on "hub1", a hub server: databases are on mailbox or legacy servers`,
		"no-site-for-address.yaml":       `no-site-for-address.yaml:4: server "hub2" has no site, and its address "192.0.2.1:25" is not an IP address in the subnets of a site`,
		"group-cycle.yaml":               `group-cycle.yaml:4: group "all@example.com" contains itself (a cycle of groups)`,

		// Recipient validation (SMTP-6).
		"bad-recipient-address.yaml": `bad-recipient-address.yaml:9: recipients "example.com": address "bob@other.test" is not user@domain under example.com`,
	}
	files, _ := filepath.Glob("testdata/bad-topology/*.yaml")
	if len(files) != len(want) {
		t.Errorf("%d files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		_, err := LoadTopology(f)
		if err == nil || !strings.Contains(err.Error(), want[filepath.Base(f)]) {
			t.Errorf("%s: %v\nwant %s", f, err, want[filepath.Base(f)])
		}
	}
}

func FuzzParseTopology(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad-topology/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("sites: [{name: a}, {name: b}]\nsite_links: [{name: l, sites: [a, b], cost: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, err := ParseTopology(data, "fuzz.yaml")
		if err == nil && tp == nil {
			t.Fatal("nil topology without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error without file name: %v", err)
		}
	})
}

// The postmaster defaults to the first authoritative domain, else the
// domain of the server's name where it is an accepted domain inside the
// organisation, else the first internal_relay domain, else none (a bare
// <postmaster> is refused): never an address outside the organisation
// (rt22 F5). The receive-side limits have defaults.
func TestPostmasterAndLimitDefaults(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"server: {name: mx.a.test}\naccepted_domains: [{domain: r.test, type: internal_relay}, {domain: Org.Test, recipient_validation: off}]\nmailbox: {maildir: m}\n", "postmaster@org.test"},
		{"server: {name: mx.a.test}\n", ""},
		{"server: {name: mx.a.test, postmaster: hostmaster@a.test}\naccepted_domains: [{domain: a.test, type: internal_relay}]\n", "hostmaster@a.test"},
		// An edge: its domains are internal_relay; the name's domain
		// first where it is one of them.
		{"server: {name: edge.rt22.test, role: edge}\naccepted_domains: [{domain: example.test, type: internal_relay}]\n", "postmaster@example.test"},
		{"server: {name: edge.b.test, role: edge}\naccepted_domains: [{domain: a.test, type: internal_relay}, {domain: b.test, type: internal_relay}]\n", "postmaster@b.test"},
		{"server: {name: edge.x.b.test, role: edge}\naccepted_domains: [{domain: a.test, type: internal_relay}, {domain: \"*.b.test\", type: internal_relay}]\n", "postmaster@x.b.test"},
		// An external_relay domain is outside the organisation.
		{"server: {name: edge.b.test, role: edge}\naccepted_domains: [{domain: b.test, type: external_relay}]\n", ""},
	} {
		c, err := Parse([]byte(tc.yaml+"receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Server.Postmaster != tc.want {
			t.Errorf("postmaster = %q, want %q", c.Server.Postmaster, tc.want)
		}
		if c.Transport.MaxHopCount != DefaultMaxHopCount || c.Transport.BounceSizeLimit != DefaultBounceSizeLimit ||
			c.AuthThrottle.LockoutAfter != DefaultAuthLockoutAfter || c.AuthThrottle.Delay.D() != DefaultAuthDelay {
			t.Errorf("defaults not applied: %+v %+v", c.Transport, c.AuthThrottle)
		}
	}
}

// An explicit server.postmaster outside the authoritative and
// internal_relay domains is refused at its line: <postmaster> is taken
// from anyone, and would relay out of the organisation (rt22 F5).
func TestPostmasterOutsideRefused(t *testing.T) {
	for _, pm := range []string{"abuse@elsewhere.org", "postmaster@partner.test", "x@a.test.evil.example"} {
		yaml := "server:\n  name: mx.a.test\n  postmaster: " + pm + "\naccepted_domains:\n  - {domain: a.test, type: internal_relay}\n" +
			"  - {domain: partner.test, type: external_relay}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
		_, err := Parse([]byte(yaml), "pm.yaml")
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != 3 || !strings.Contains(es[0].Msg, "server.postmaster") {
			t.Errorf("postmaster %s: want one error at pm.yaml:3, got %v", pm, err)
		}
	}
}

// One bad value is one error, at the line that holds it: a derived
// default built from it (server.postmaster, outbound_tls.tls_rpt.from)
// is not reported again against a line the file does not have (rt22 F3).
func TestDerivedDefaultsNotBlamed(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		line int
	}{
		{"server:\n  name: mx.a.test\naccepted_domains:\n  - domain: \"exa mple.test\"\n    recipient_validation: off\nmailbox: {maildir: m}\n", 4},
		{"server:\n  name: mx.a.test\n  postmaster: \"not an address\"\n", 3},
		{"server:\n  name: \"mx.exa mple.test\"\n", 2},
		// A mailbox's domain ends without a dot on the wire: refused
		// where it is written, with what to write (rt51 F10).
		{"server:\n  name: mx.a.test\n  postmaster: postmaster@a.test.\naccepted_domains: [{domain: a.test, type: internal_relay}]\n", 3},
	} {
		_, err := Parse([]byte(tc.yaml+"receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"), "d.yaml")
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != tc.line {
			t.Errorf("%q: want one error at line %d, got\n%v", tc.yaml, tc.line, err)
		} else if strings.Contains(tc.yaml, "a.test.\n") && !strings.Contains(es[0].Msg, "postmaster@a.test without the final dot") {
			t.Errorf("%q: %v", tc.yaml, es[0])
		}
	}
}

// Recipient validation defaults by domain type; the embedded default has
// a directory, so `make run` refuses unknown local parts but delivers to
// alice@example.test.
func TestRecipientValidationDefaults(t *testing.T) {
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if c.AcceptedDomains[0].RecipientValidation != ValidationDirectory || !slices.Contains(c.Recipients.Addresses, "alice@example.test") {
		t.Errorf("embedded default: %+v %+v", c.AcceptedDomains, c.Recipients)
	}
	c, err = Parse([]byte(`
server: {name: a.example.test}
accepted_domains:
  - {domain: a.test, type: internal_relay}
  - {domain: b.test, type: external_relay}
  - {domain: c.test, type: authoritative, recipient_validation: off}
receive_connectors: [{name: x, bindings: ["127.0.0.1:25"]}]
mailbox: {maildir: `+filepath.Join(t.TempDir(), "m")+`}
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{ValidationCallout, ValidationCallout, ValidationOff} {
		if got := c.AcceptedDomains[i].RecipientValidation; got != want {
			t.Errorf("%s: %s, want %s", c.AcceptedDomains[i].Domain, got, want)
		}
	}
	co := c.Recipients.Callout
	if co.PositiveTTL.D() != 7*24*time.Hour || co.NegativeTTL.D() != 3*time.Hour || co.Timeout.D() != 30*time.Second || co.MaxConcurrent != 10 {
		t.Errorf("callout defaults: %+v", co)
	}
}

// delay_notification against message_expiration blames the line the
// operator wrote: message_expiration's when delay_notification is the
// default, delay_notification's when it is set.
func TestDelayNotificationBlamesTheWrittenLine(t *testing.T) {
	base := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\ntransport:\n  retry_schedule: [1m]\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "  message_expiration: 1h\n", "t.yaml:5: transport.delay_notification (4h0m0s, its default: the file does not set it) must be shorter than message_expiration (1h0m0s)"},
		{base + "  message_expiration: 1h\n  delay_notification: 2h\n", "t.yaml:6: transport.delay_notification (2h0m0s)"},
	} {
		_, err := Parse([]byte(tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.yaml, err, tc.want)
		}
	}
}

// rt11 F3: a tracking log path that is a FIFO (or any file that is not a
// regular file) is a configuration error with its file and line: the
// daemon cannot use it, and umbra track would wait on it for ever.
func TestTrackingPathMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "tracking.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	y := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\ntracking:\n  path: " + fifo + "\n"
	_, err := Parse([]byte(y), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4: tracking.path "+fifo+" is not a regular file (a FIFO)") {
		t.Fatalf("a FIFO as the tracking log: %v", err)
	}
}

// rt12 NEW-2: every file setting refuses a FIFO (or directory, device)
// with its file and line. Before, a FIFO as credentials_file or
// recipients.file hung config check, the start (with no word and no
// answer to SIGTERM) and a reload; outbound_tls.ca_file passed.
func TestFileSettingsMustBeRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	base := "server: {name: h.example, data_dir: " + t.TempDir() + "}\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    auth:\n      mechanisms: [PLAIN]\n      credentials_file: " + fifo + "\n",
			"t.yaml:7: receive_connectors[0].auth.credentials_file " + fifo + " is not a regular file (a FIFO)"},
		{base + "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\nrecipients:\n  file: " + fifo + "\n",
			"t.yaml:4: recipients.file " + fifo + " is not a regular file (a FIFO)"},
		{base + "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\noutbound_tls:\n  ca_file: " + dir + "\n",
			"t.yaml:4: outbound_tls.ca_file " + dir + " is not a regular file (a directory)"},
	} {
		_, err := Parse([]byte(tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.yaml, err, tc.want)
		}
	}
}

// IsHost: what umbra connects to by name or address. A dotted string of
// digits that is no IP address (an octet above 255, too few parts) is
// neither: a top-level label is never all digits (RFC 3696 section 2).
func TestIsHost(t *testing.T) {
	for s, want := range map[string]bool{
		"mx.example.test": true, "localhost": true, "localhost.": true, "192.0.2.1": true, "::1": true,
		"2001:db8::1": true, "a1.example.123x": true, "3com.example": true,
		"999.1.1.1": false, "256.0.0.1": false, "1.2.3": false, "example.123": false, "123": false,
		"": false, "-a.example": false, "a..b": false, "[::1]": false, "a b.example": false,
	} {
		if got := IsHost(s); got != want {
			t.Errorf("IsHost(%q) = %v, want %v", s, got, want)
		}
	}
}

// rt17 F5: a file setting naming a file that cannot be read is reported
// by config check with the setting's file and line, not only the path.
func TestUnreadableFilesAtTheirLine(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexist")
	denied := filepath.Join(dir, "denied")
	if err := os.WriteFile(denied, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	src := "server: {name: h.example, data_dir: " + t.TempDir() + "}\n" +
		"receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n" +
		"send_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\"}]\n    smart_hosts: [\"127.0.0.1:2525\"]\n" +
		"    tls: required\n    auth:\n      username: u\n      password_file: " + missing + "\n"
	cfg, err := Parse([]byte(src), filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.UnreadableFiles()
	want := filepath.Join(dir, "t.yaml") + ":10: send_connectors[0].auth.password_file " + missing + ": no such file or directory"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("missing password file: %v, want %s", err, want)
	}
	if os.Geteuid() != 0 { // root reads a file whatever its mode
		cfg, err = Parse([]byte(strings.Replace(src, missing, denied, 1)), filepath.Join(dir, "t.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.UnreadableFiles(); err == nil || !strings.Contains(err.Error(), ":10: send_connectors[0].auth.password_file "+denied+": permission denied") {
			t.Fatalf("unreadable password file: %v", err)
		}
	}
	if err := os.WriteFile(missing, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.UnreadableFiles(); err != nil && !strings.Contains(err.Error(), "denied") {
		t.Fatalf("readable files refused: %v", err)
	}
}

// rt18 F2: a binding whose host is digits that make no IP address
// (127.000.000.017) passed config check and failed at start without a
// line, after the database was created. It is refused at its line.
func TestBindingOfDigitsThatAreNoAddress(t *testing.T) {
	src := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.000.000.017:25\"]\n"
	_, err := Parse([]byte(src), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4:") || !strings.Contains(err.Error(), `bad host "127.000.000.017"`) {
		t.Fatalf("binding 127.000.000.017:25: %v", err)
	}
}

// rt45 ops: a binding's port past 65535 is refused at its line saying
// which ports there are.
func TestBindingPortPastRangeSaysTheRange(t *testing.T) {
	src := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:415510\"]\n"
	_, err := Parse([]byte(src), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4:") || !strings.Contains(err.Error(), `bad port "415510": a port is a number from 0 to 65535`) {
		t.Fatalf("binding 127.0.0.1:415510: %v", err)
	}
}

// rt20 N1: a host that the C resolver reads as an IPv4 address in one
// of inet_aton's other forms (hex, octal, fewer than four parts, one
// number, a trailing dot) is neither an IP address umbra can parse nor
// a host name: every host:port and host of the configuration refuses it
// at its line, as 127.000.000.017 already was, instead of serve failing
// without one.
func TestInetAtonFormsRefused(t *testing.T) {
	forms := []string{"0x7f000013", "0X7F000013", "127.1", "0177.0.0.1", "2130706451", "127.0.0.0x13", "0x7f.0.0.1",
		"127.0.0.1.", "0x7f000013.", "0x", "1.2.3.0xff"}
	for _, h := range forms {
		if IsHost(h) {
			t.Errorf("IsHost(%q) = true; inet_aton reads it as an IPv4 address", h)
		}
	}
	for _, h := range []string{"mx.example", "0x7f.example", "a0x1", "localhost", "127.0.0.1", "::1", "host-0x1", "0xg"} {
		if !IsHost(h) {
			t.Errorf("IsHost(%q) = false", h)
		}
	}
	src := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"0x7f000013:25\"]\n"
	if _, err := Parse([]byte(src), "t.yaml"); err == nil || !strings.Contains(err.Error(), "IPv4 address 127.0.0.19") {
		t.Errorf("binding 0x7f000013 does not say which address the resolver reads: %v", err)
	}
	for _, h := range forms {
		cases := []struct{ name, src, line string }{
			{"binding", "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"" + h + ":25\"]\n", ":4:"},
			{"metrics_listen", "server:\n  name: h.example\n  data_dir: " + t.TempDir() + "\n  metrics_listen: \"" + h + ":9100\"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n", ":4:"},
			{"console", "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nconsole:\n  listen: \"" + h + ":8443\"\n", ":6:"},
			{"ldap", "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nldap:\n  url: \"ldap://" + h + ":389\"\n  base_dn: dc=example,dc=org\n", ":6:"},
			{"smart host", "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nsend_connectors:\n  - name: s\n    address_spaces: [{domain: \"*\"}]\n    smart_hosts: [\"" + h + ":25\"]\n", ":8:"},
		}
		for _, c := range cases {
			_, err := Parse([]byte(c.src), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), "t.yaml"+c.line) || !strings.Contains(err.Error(), h) {
				t.Errorf("%s %s: %v", c.name, h, err)
			}
		}
	}
}

// A domain of an unknown type is reported once, at its type: the
// recipient_validation its type would have given is not reported as
// wrong when the file does not set it (rt28).
func TestUnknownDomainTypeReportedOnce(t *testing.T) {
	_, err := Parse([]byte(`server: {name: hub.test}
accepted_domains:
  - domain: example.test
    type: internal-relay
`), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "internal-relay") || strings.Contains(err.Error(), "recipient_validation") {
		t.Fatalf("%v", err)
	}
}
