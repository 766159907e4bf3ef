package queue

import (
	"strings"

	"umbra/internal/mailaddr"
)

// CanonicalRedirect is the one form of a redirect target HOST[:PORT]
// (rt18e-F2): an IPv6 address in brackets, in its shortest form (`::1`,
// `[::1]` and `[0:0::1]` are `[::1]`), a host name case-folded, the
// port only when one was given. The queue a redirect moves mail to is
// "redirect:" and this form, whichever form the operator typed, so a
// suspension of either form holds it. A target that does not parse is
// returned as it is (the API refuses it before).
func CanonicalRedirect(target string) string {
	return mailaddr.CanonicalHostPort(target)
}

// CanonicalQueueName is name with a redirect queue's target in its one
// form (CanonicalRedirect); other names are returned as they are. Every
// name an operator gives (queue actions, message list filters) and
// every redirect queue name stored by an earlier release (the redirect
// target of its recipients, a suspension) is read through it.
func CanonicalQueueName(name string) string {
	if target, ok := strings.CutPrefix(name, "redirect:"); ok {
		return "redirect:" + CanonicalRedirect(target)
	}
	return name
}

// redirectAliases are the other names an earlier release may have
// stored for the canonical redirect queue name: the bare IPv6 form of
// a target given without a port.
func redirectAliases(name string) []string {
	target, ok := strings.CutPrefix(name, "redirect:")
	if !ok || !strings.HasPrefix(target, "[") || !strings.HasSuffix(target, "]") {
		return nil
	}
	return []string{"redirect:" + target[1:len(target)-1]}
}
