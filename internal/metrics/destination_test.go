package metrics

import "testing"

// rt47 F4: the unreachable queue's deferrals were counted under
// destination "other", a value README's Metrics section did not list.
// Every queue kind umbra makes has a documented value; "other" is left
// for a queue name of no kind umbra knows.
func TestOPSDeliveryResultDestinationValues(t *testing.T) {
	for name, want := range map[string]string{
		"mx:example.org":    "mx",
		"redirect:10.0.0.1": "redirect",
		"smarthost:sink":    "smarthost:sink",
		"mailbox:db1":       "mailbox:db1",
		"site:b":            "site:b",
		"legacy:old":        "legacy:old",
		"unreachable":       "unreachable",
		"what:ever":         "other",
	} {
		if got := Destination(name); got != want {
			t.Errorf("Destination(%q) = %q, want %q", name, got, want)
		}
	}
}
