package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// recipientValidator builds the RCPT validator of a configuration: the
// directory lists (the topology's addresses, the recipients file, the
// inline addresses) and, for callout domains, the callout. A recipients
// file that cannot be read or parsed fails the start or the reload.
func recipientValidator(cfg *config.Config, callout *recipients.Callout, dir recipients.Directory, log *slog.Logger) (*recipients.Validator, error) {
	var lists recipients.Chain
	var topoEntries []string
	if cfg.Topology != "" {
		// The topology as loaded where cfg holds its text (serve: the
		// bytes routing was built from; route explain: the daemon's),
		// else the file as it reads now.
		var t *config.Topology
		var err error
		if cfg.TopologySource != nil {
			t, err = config.ParseTopology(cfg.TopologySource, cfg.Topology)
		} else {
			t, err = config.LoadTopology(cfg.Topology)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range t.Recipients {
			if strings.Contains(r.Match, "@") {
				topoEntries = append(topoEntries, r.Match)
			}
			topoEntries = append(topoEntries, r.Addresses...)
		}
	}
	var all []*recipients.List
	for _, src := range []struct {
		name    string
		entries []string
	}{{"topology " + config.ShownPath(cfg.Topology), topoEntries}, {"recipients.addresses", cfg.Recipients.Addresses}} {
		l, err := recipients.NewList(src.entries)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name, err)
		}
		all = append(all, l)
	}
	if f := cfg.Recipients.File; f != "" {
		l, err := loadRecipientsFile(cfg, f)
		if err != nil {
			return nil, err
		}
		all = append(all, l)
	}
	var modes []recipients.DomainMode
	var uncovered []error
	for i, d := range cfg.AcceptedDomains {
		m := map[string]recipients.Mode{config.ValidationDirectory: recipients.ModeDirectory,
			config.ValidationCallout: recipients.ModeCallout, config.ValidationOff: recipients.Off}[d.RecipientValidation]
		modes = append(modes, recipients.DomainMode{Pattern: d.Domain, Mode: m})
		if m != recipients.ModeDirectory {
			continue
		}
		covered := false
		for _, l := range all {
			covered = covered || l.Covers(strings.TrimPrefix(d.Domain, "*."))
		}
		if covered || dir != nil || cfg.LDAP.Enabled() || strings.HasPrefix(d.Domain, "*.") || fileNotRead(cfg) {
			continue
		}
		// A domain no list names, with no directory asked per address
		// (LDAP: config check has none open, so the setting decides),
		// would have every address refused, as with no source at all
		// (config.validateRecipientValidation): a configuration error,
		// not a warning after which the server refuses all its mail
		// (an emptied or mistyped recipients file; rt26c F1). With a
		// topology too (ops27 5), whose recipient map may name the
		// domain's database and none of its addresses: every RCPT would
		// get 550 5.1.1 and its senders' mail bounce — no transitional
		// state an operator means; recipient_validation: off or callout
		// says "accept, or ask the next hop, meanwhile".
		uncovered = append(uncovered, noRecipientOf(cfg, i, d.Domain))
	}
	if len(uncovered) > 0 {
		return nil, cfg.Place(errors.Join(uncovered...))
	}
	for _, l := range all {
		lists = append(lists, l)
	}
	if dir != nil { // the LDAP directory, after the lists (ldap.go)
		lists = append(lists, dir)
	}
	if callout == nil { // no callout (route explain): a nil Directory, not a nil *Callout in one
		return recipients.NewValidator(modes, lists, nil), nil
	}
	return recipients.NewValidator(modes, lists, callout), nil
}

// fileNotRead: the file writes a recipients.file that cfg goes without
// (config check's loadable configuration: the file could not be read,
// said at its line). What it lists is not known, so no domain is said
// to have no address listed (rr-opsrt38 F4): that would blame the
// domain's line, and advise switching validation off, for a file that
// may list them all.
func fileNotRead(cfg *config.Config) bool {
	return cfg.Recipients.File == "" && cfg.WrittenValue("recipients", "file") != ""
}

// noRecipientOf is the error for accepted domain i, validated by
// directory, of which no directory source lists an address: at the line
// of recipients.file when there is one (the file emptied, or every entry
// mistyped), else at the domain's.
func noRecipientOf(cfg *config.Config, i int, domain string) error {
	fix := fmt.Sprintf("every address there would be refused: list its addresses (or @%s for every local part), "+
		"or set its recipient_validation: off", domain)
	if cfg.Topology != "" {
		fix = fmt.Sprintf("every address there would be refused (550 5.1.1): list its addresses (addresses: under its entry in "+
			"the topology's recipients map, a recipients file, or @%s for every local part), or set its recipient_validation: off "+
			"(or callout, to ask its next hop)", domain)
	}
	if f := cfg.Recipients.File; f != "" {
		return config.NewFileError(f, fmt.Errorf("lists no address of accepted domain %q, validated by directory, "+
			"nor does another directory source: %s", domain, fix), "recipients", "file")
	}
	var srcs []string
	if cfg.Topology != "" {
		srcs = append(srcs, "the recipients map of the topology "+config.ShownPath(cfg.Topology))
	}
	if len(cfg.Recipients.Addresses) > 0 {
		srcs = append(srcs, "recipients.addresses")
	}
	src := "no directory source"
	if len(srcs) > 0 {
		src += " (" + strings.Join(srcs, ", ") + ")"
	}
	return cfg.ErrorAt(fmt.Sprintf("accepted domain %q is validated by directory but %s lists an address of it: %s",
		domain, src, fix), "accepted_domains", i, "domain")
}

// newCallout is the recipient callout of a server: its verifier is the
// deliverer (it routes like mail), its cache the transport database.
func newCallout(cfg *config.Config, v recipients.Verifier, store *queue.Store, key func(addr string) string) *recipients.Callout {
	co := cfg.Recipients.Callout
	return recipients.NewCallout(recipients.CalloutConfig{Verifier: v, Cache: rcptCache{store}, Key: key,
		PositiveTTL: co.PositiveTTL.D(), NegativeTTL: co.NegativeTTL.D(), Timeout: co.Timeout.D(), MaxConcurrent: co.MaxConcurrent, MaxEntries: co.MaxEntries})
}

// pruneCallout drops callout answers too old to use, hourly.
func pruneCallout(ctx context.Context, c *recipients.Callout, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := c.Prune(ctx); err != nil {
			log.Warn("pruning the recipient cache failed", "err", err)
		} else if n > 0 {
			log.Info("recipient cache pruned", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rcptCache adapts the transport database to recipients.Cache.
type rcptCache struct{ s *queue.Store }

func (c rcptCache) GetRecipient(a string) (recipients.Entry, bool, error) {
	r, ok, err := c.s.GetRecipient(a)
	return recipients.Entry{Known: r.Known, Checked: r.Checked, Reply: r.Reply}, ok, err
}

func (c rcptCache) PutRecipient(ctx context.Context, a string, e recipients.Entry, max int) error {
	return c.s.PutRecipient(ctx, a, queue.RecipientAnswer{Known: e.Known, Checked: e.Checked, Reply: e.Reply}, max)
}

func (c rcptCache) PruneRecipients(ctx context.Context, pos, neg time.Time) (int, error) {
	return c.s.PruneRecipients(ctx, pos, neg)
}

// calloutLearner passes permanent recipient failures of deliveries to the
// callout (recipients.Callout.Refused): an address the cache holds as
// valid that the next hop now refuses with 5.1.x (a mailbox deleted
// since it was verified) is refused at the next RCPT, not accepted and
// bounced to a sender that may be forged for the rest of positive_ttl.
// Events are handed over through a bounded channel (dropped when full:
// the cache is a hint, the next failure tries again) and applied outside
// the queue's own work.
type calloutLearner struct{ ch chan [2]string }

func newCalloutLearner() *calloutLearner { return &calloutLearner{ch: make(chan [2]string, 256)} }

func (l *calloutLearner) Event(name string, _ *queue.Message, r *queue.Recipient, reply string) {
	if name != "fail" || r == nil || !strings.HasPrefix(reply, "5") {
		return
	}
	select {
	case l.ch <- [2]string{r.Addr, reply}:
	default:
	}
}

func (l *calloutLearner) run(ctx context.Context, c *recipients.Callout, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case x := <-l.ch:
			if c.Refused(ctx, x[0], x[1]) {
				log.Info("recipient refused by the next hop: its cached positive answer is replaced", "rcpt", x[0], "reply", x[1])
			}
		}
	}
}

// loadRecipientsFile reads the recipients file f as config check, serve
// and a reload do, its errors at the line of recipients.file like every
// file a setting names: "umbra.yaml:12: recipients.file rcpt: file too
// large: ..." for a file that cannot be read, one such line for each bad
// line of it ("... recipients.file rcpt:3: ...").
func loadRecipientsFile(cfg *config.Config, f string) (*recipients.List, error) {
	data, err := config.ReadFileLimit(f, recipients.MaxFileSize, "a recipients file")
	if err != nil {
		return nil, cfg.Place(config.NewFileError(f, err, "recipients", "file"))
	}
	l, err := recipients.ParseFile(data, f)
	if err == nil {
		return l, nil
	}
	var fes []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			fes = append(fes, config.NewFileLineError(e, "recipients", "file"))
		}
	} else {
		fes = append(fes, config.NewFileLineError(err, "recipients", "file"))
	}
	return nil, cfg.Place(errors.Join(fes...))
}
