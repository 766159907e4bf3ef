package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a configuration file, with its position.
type Error struct {
	File string
	Line int // 0 when the problem has no single line (e.g. a missing section)
	Msg  string
	// cause is the FileError Place put at its line (nil otherwise):
	// config check goes on without that file's setting (Without).
	cause error
}

// Unwrap is the FileError the error was placed from, if any.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	file := ShownPath(e.File)
	if file == "" {
		file = "<embedded>"
	}
	msg := oneLine(e.Msg)
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", file, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", file, msg)
}

// oneLine is msg with a line break it holds written as Go's escape (\n,
// \r, \v, \f): an error is one line (Errors joins them with newlines,
// config check --json lists them one an entry), whatever value a check
// named raw — a value of the setting it is placed at is quoted already
// (shownValue); this is the net under every other.
func oneLine(msg string) string {
	if !strings.ContainsAny(msg, "\n\r\v\f") {
		return msg
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\v", `\v`, "\f", `\f`).Replace(msg)
}

// Errors is every problem found in one file, in line order.
type Errors []*Error

// Unwrap is the errors themselves (errors.As finds a FileError placed
// among them).
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, decodes, defaults and validates a configuration file.
// Relative paths in it are resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// LoadDefault returns the embedded default configuration, with relative
// paths resolved against the working directory.
func LoadDefault() (*Config, error) { return Parse(embeddedDefault, "") }

// Parse decodes data strictly (unknown keys are errors), applies the
// defaults and validates the result. Every error names file and line.
func Parse(data []byte, file string) (*Config, error) {
	cfg, err := parse(data, file)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadForCheck is Load for config check. When the configuration itself
// is valid and only paths it names are not (a directory under a file, a
// file setting that names a FIFO or a symbolic link that leads to
// nothing), it returns the configuration with those errors (Errors), so
// that config check goes on to the content of the other files it names
// and reports both in one run; PathFaults names the settings refused.
// Any other error returns no configuration, as Load.
func LoadForCheck(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path)
}

// PathFaults are the file settings (as paths for Without) whose files
// LoadForCheck refused (not a regular file, a link that leads nowhere):
// a check that goes on after them leaves them out.
func (c *Config) PathFaults() [][]any { return c.pathFaults }

func parse(data []byte, file string) (*Config, error) {
	cfg := newWithPresets()
	doc, left, err := decodeAll(data, file, cfg)
	if err != nil {
		return nil, err
	}
	cfg.File, cfg.doc, cfg.Source = file, doc, data
	zeros := explicitZeros(doc, cfg) // zerovalues.go: none may be replaced silently
	cfg.keepEmptyFiles(zeros)        // emptyfiles.go: those that turn a feature off, said by config check
	applyDefaults(cfg)
	base := "."
	if file != "" {
		base = filepath.Dir(file)
	}
	resolvePaths(cfg, base)
	vs := append(append(append(replacedZeros(zeros), zeroCosts(zeros)...), zeroSizes(zeros)...), append(validate(cfg), validateOutboundTLSKeys(cfg, doc)...)...)
	vs = append(vs, emptyDerived(zeros)...) // zerovalues.go: "" for a key derived at use
	if len(left.errs) > 0 {
		// Values that do not decode were left out; what is left is
		// checked as a whole file is (zero values, validation), so that
		// every error of the file comes in one run (rt18c-F5). The
		// configuration is not used.
		return nil, left.withViolations(file, doc, vs)
	}
	var pv validator
	validatePaths(&pv, cfg, func(path ...string) bool { return keyWritten(doc, path...) })
	pv.out = append(pv.out, writtenFileViolations(cfg, func(path ...string) bool { return keyWritten(doc, path...) })...)
	fvs := fileViolations(cfg)
	if err := violations(file, doc, append(append(vs, pv.out...), fvs...)); err != nil {
		if len(vs) > 0 {
			return nil, err
		}
		for _, v := range fvs {
			cfg.pathFaults = append(cfg.pathFaults, v.path)
		}
		return cfg, err
	}
	return cfg, nil
}

// notUTF8 reports the first byte of data that is not UTF-8 at its line
// (the YAML decoder refuses such a file without one: "invalid trailing
// UTF-8 octet"), or nil.
func notUTF8(data []byte, file string) *Error {
	if utf8.Valid(data) {
		return nil
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			line := 1 + bytes.Count(data[:i], []byte("\n"))
			return &Error{File: file, Line: line, Msg: "the byte " + string(data[i:i+1]) + " is not UTF-8: the file must be written in UTF-8"} // shown \xNN by the one escape rule
		}
		i += n
	}
	return nil
}

// decodeStrict decodes data into v (a pointer to a struct), refusing
// unknown keys; it returns the document node for line lookups. Every
// value that does not decode is reported, each at its line.
func decodeStrict(data []byte, file string, v any) (*yaml.Node, error) {
	doc, left, err := decodeAll(data, file, v)
	if err != nil {
		return nil, err
	}
	if len(left.errs) > 0 {
		return nil, left.errs
	}
	return doc, nil
}

// leftOut is what decodeAll left out of the document: the errors of the
// values that do not decode (or name no setting), and the paths of the
// settings they were, whose validation would be of a default instead.
type leftOut struct {
	errs  Errors
	paths [][]any
}

// under says whether a violation at path is about a setting left out:
// it is at or below one, or it is about the list element or subsection
// that held one (a receive connector whose bindings were left out "needs
// at least one binding") — not a whole top-level section.
// withViolations is l's errors and those of vs that neither name nor
// read a value left out (a consequence of it, not an error of its own),
// in the file's line order: every independent error of a file that did
// not decode whole, in one run.
func (l leftOut) withViolations(file string, doc *yaml.Node, vs []violation) Errors {
	var kept []violation
	for _, v := range vs {
		if !l.under(v.path) && !slices.ContainsFunc(v.reads, l.under) {
			kept = append(kept, v)
		}
	}
	errs := l.errs
	if err := violations(file, doc, kept); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

func (l leftOut) under(path []any) bool {
	for _, p := range l.paths {
		if len(path) >= len(p) && reflect.DeepEqual(path[:len(p)], p) {
			return true
		}
		if len(path) >= 2 && len(path) < len(p) && reflect.DeepEqual(p[:len(path)], path) {
			return true
		}
	}
	return false
}

// decodeAll is decodeStrict that goes on after values that do not
// decode: checkKnownFields finds every one of them on the node tree
// (an unknown key, a value of the wrong kind or shape, a duration or a
// size that does not parse), and the rest of the document — without
// them — is decoded into v and returned with them (left), so that the
// caller can validate what is left and report it all in one run. err is
// an error that leaves nothing to decode (not YAML, not UTF-8, …).
func decodeAll(data []byte, file string, v any) (*yaml.Node, leftOut, error) {
	if e := notUTF8(data, file); e != nil {
		return nil, leftOut{}, Errors{e}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, leftOut{}, Errors{atAlias(atTab(yamlError(file, err), data), data)}
	}
	if e := secondDocument(data, file); e != nil {
		return nil, leftOut{}, Errors{e}
	}
	if root.Kind == 0 {
		return nil, leftOut{}, Errors{{File: file, Msg: noSettings}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if e := notASection(doc, file); e != nil {
		return nil, leftOut{}, Errors{e}
	}
	fc := &fieldCheck{file: file, bad: map[*yaml.Node]bool{}}
	fc.check(doc, reflect.TypeOf(v).Elem(), "", nil)
	if len(fc.errs) == 0 {
		if err := doc.Decode(v); err != nil {
			return nil, leftOut{}, decodeErrors(file, err)
		}
		return doc, leftOut{}, nil
	}
	left := leftOut{errs: fc.errs, paths: fc.paths}
	rest := withoutNodes(doc, fc.bad)
	if err := rest.Decode(v); err != nil {
		// Not foreseen by the tree's check: reported, and nothing is
		// left to validate.
		seen := map[string]bool{}
		for _, e := range left.errs {
			seen[e.Error()] = true
		}
		for _, e := range decodeErrors(file, err) {
			if !seen[e.Error()] {
				left.errs = append(left.errs, e)
			}
		}
		sort.SliceStable(left.errs, func(i, j int) bool { return left.errs[i].Line < left.errs[j].Line })
		return nil, leftOut{}, left.errs
	}
	return rest, left, nil
}

// noSettings is the one error of a file that holds no settings: nothing,
// only comments, or a YAML null.
const noSettings = "empty file: it holds no settings (key: value lines, each section's key at the start of its line)"

// notASection is the one error of a file whose top is not a section of
// settings (rt41 F3): a list, a single value, a null. The field check
// would name it after the file's empty path (": a section … is
// expected") and the decoder once more in a Go type's words ("cannot
// unmarshal !!seq into config.Config"); nothing in such a file is a
// setting, so it is said once, at the line the value begins.
func notASection(doc *yaml.Node, file string) *Error {
	n := doc
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.MappingNode:
		return nil
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return &Error{File: file, Msg: noSettings}
	case n.Kind == yaml.SequenceNode:
		return &Error{File: file, Line: doc.Line, Msg: "the file is a list: its settings are key: value lines, each section's key at the start of its line"}
	default:
		return &Error{File: file, Line: doc.Line, Msg: fmt.Sprintf("the file is a single value (%s): its settings are key: value lines, each section's key at the start of its line", written(n))}
	}
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// atAlias says yaml.v3's refusal of an alias that names no anchor
// ("unknown anchor 'nope' referenced", without a line: rt41 F2) in
// umbra's words, at the line of the first such alias in the text: an
// "*name" token outside quotes and comments. An anchor must be defined
// (&name) before an alias repeats its value.
func atAlias(e *Error, data []byte) *Error {
	m := unknownAnchor.FindStringSubmatch(e.Msg)
	if m == nil {
		return e
	}
	name := m[1]
	e.Msg = fmt.Sprintf("the alias *%s names no anchor: an alias repeats the value of an anchor (&%s) written before it in the file", name, name)
	if e.Line == 0 {
		e.Line = aliasLine(data, name)
	}
	return e
}

// aliasLine is the line of the first alias *name in data outside quoted
// text, comments and block scalars (| or >: the lines after one more
// indented than its own), at the start of a value (not a word of a plain
// one: "a *name"), 0 when none is found.
func aliasLine(data []byte, name string) int {
	nameEnd := func(r byte) bool { return strings.IndexByte(" \t\r,]}", r) >= 0 }
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	block := -1 // the indentation of the line that began a block scalar, -1: none
	for i, l := range strings.Split(string(data), "\n") {
		if block >= 0 {
			if strings.TrimSpace(l) == "" || indent(l) > block {
				continue
			}
			block = -1
		}
		var quote byte
		code := len(l) // where a comment begins
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				} else if c == '\\' && quote == '"' {
					j++
				}
			case c == '\'' || c == '"':
				if j == 0 || strings.IndexByte(" \t[{,:-", l[j-1]) >= 0 {
					quote = c
				}
			case c == '#' && (j == 0 || l[j-1] == ' ' || l[j-1] == '\t'):
				code, j = j, len(l)
			case c == '*' && (j == 0 || strings.IndexByte(" \t[{,:", l[j-1]) >= 0):
				before := strings.TrimRight(l[:j], " \t")
				if before != "" && strings.IndexByte("[{,:-?", before[len(before)-1]) < 0 {
					continue // a word of a plain value
				}
				rest := l[j+1:]
				if strings.HasPrefix(rest, name) && (len(rest) == len(name) || nameEnd(rest[len(name)])) {
					return i + 1
				}
			}
		}
		if quote == 0 && blockStart.MatchString(strings.TrimRight(l[:code], " \t\r")) {
			block = indent(l)
		}
	}
	return 0
}

// blockStart is a line whose value is a block scalar: it ends in | or >
// with their indicators, after a key, a list's dash or alone.
var blockStart = regexp.MustCompile(`(^|[\s:-])[|>][-+0-9]*$`)

// withoutNodes is a copy of the tree n without the nodes in bad: a
// mapping's key and value go together, a list's element alone. Aliases
// keep pointing into the original tree.
func withoutNodes(n *yaml.Node, bad map[*yaml.Node]bool) *yaml.Node {
	c := *n
	if len(n.Content) == 0 {
		return &c
	}
	c.Content = make([]*yaml.Node, 0, len(n.Content))
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if bad[n.Content[i]] || bad[n.Content[i+1]] {
				continue
			}
			c.Content = append(c.Content, withoutNodes(n.Content[i], bad), withoutNodes(n.Content[i+1], bad))
		}
		return &c
	}
	for _, e := range n.Content {
		if !bad[e] {
			c.Content = append(c.Content, withoutNodes(e, bad))
		}
	}
	return &c
}

// secondDocument refuses a second YAML document in data (after a "---"
// or "..." line) at the line it begins: yaml.Unmarshal reads the first
// and drops the rest without a word, even when it is not valid YAML,
// and whatever an operator pasted there would be silently ignored.
func secondDocument(data []byte, file string) *Error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if dec.Decode(&first) != nil {
		return nil // reported by the caller's own decoding
	}
	err := dec.Decode(&second)
	if errors.Is(err, io.EOF) {
		return nil
	}
	line, endLine, startMarker := documentStart(data)
	if line == 0 {
		switch {
		case err == nil:
			line = second.Line
		default:
			line = yamlError(file, err).Line
		}
	}
	// The advice names the lines the file has (rt24c F12): a "..."
	// line that ended the first document, a "---" that began the second.
	msg := "a second YAML document begins here"
	switch {
	case endLine > 0 && startMarker:
		msg += fmt.Sprintf(", after the document end \"...\" at line %d: a file holds one document (remove the \"...\" line and this \"---\" line and merge what follows into the first)", endLine)
	case endLine > 0:
		msg += fmt.Sprintf(", after the document end \"...\" at line %d: a file holds one document (remove the \"...\" line and merge what follows into the first)", endLine)
	case startMarker:
		msg += ": a file holds one document (remove this \"---\" line and merge what follows into the first)"
	default:
		msg += ": a file holds one document (remove the \"---\" or \"...\" line that ends the first and merge what follows into it)"
	}
	return &Error{File: file, Line: line, Msg: msg}
}

// documentStart is the line where a second document begins in data:
// a "---" line after content, or the first content after a "..." line;
// 0 when none is found that way. endLine is the line of the "..." that
// ended the first document (0: none), startMarker whether line is a
// "---" line.
func documentStart(data []byte) (line, endLine int, startMarker bool) {
	content, ended := false, false
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		marker := func(m string) bool { return l == m || strings.HasPrefix(l, m+" ") || strings.HasPrefix(l, m+"\t") }
		t := strings.TrimSpace(l)
		switch {
		case marker("---"):
			if content || ended {
				return i + 1, endLine, true
			}
			if rest := strings.TrimSpace(l[3:]); rest != "" && !strings.HasPrefix(rest, "#") {
				content = true
			}
		case marker("..."):
			if !ended {
				endLine = i + 1
			}
			ended = true
		case t == "" || strings.HasPrefix(t, "#"):
		case strings.HasPrefix(l, "%") && !content:
			// a directive before the first document
		default:
			if ended {
				return i + 1, endLine, false
			}
			content = true
		}
	}
	return 0, 0, false
}

// violations turns validation results into Errors with lines, or nil.
func violations(file string, doc *yaml.Node, vs []violation) error {
	if len(vs) == 0 {
		return nil
	}
	var errs Errors
	for _, v := range vs {
		errs = append(errs, &Error{File: file, Line: lineOf(doc, v.path), Msg: shownValue(file, doc, v.path, floorMsg(doc, v))})
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// UnmarshalYAML decodes a receive connector on top of its presets.
func (rc *ReceiveConnector) UnmarshalYAML(n *yaml.Node) error {
	type plain ReceiveConnector
	p := plain(connectorPresets())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*rc = ReceiveConnector(p)
	return nil
}

// UnmarshalYAML decodes a send connector on top of its presets.
func (sc *SendConnector) UnmarshalYAML(n *yaml.Node) error {
	type plain SendConnector
	p := plain(sendConnectorPresets())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*sc = SendConnector(p)
	return nil
}

func resolvePaths(c *Config, base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "unix:") {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Server.DataDir)
	abs(&c.Topology)
	abs(&c.Recipients.File)
	ldapPaths(c, abs)
	abs(&c.Transport.ClientCertFile)
	abs(&c.Transport.ClientKeyFile)
	abs(&c.Console.CertFile)
	abs(&c.Console.KeyFile)
	abs(&c.Console.CredentialsFile)
	for i := range c.DKIM.Keys {
		abs(&c.DKIM.Keys[i].KeyFile)
	}
	abs(&c.DKIM.ARC.KeyFile)
	for _, o := range []*OutboundTLS{&c.OutboundTLS, &c.outboundTLSWritten} {
		abs(&o.CAFile)
		abs(&o.Publish.CertFile)
		abs(&o.Publish.KeyFile)
	}
	if c.Server.AdminSocket != "" && !filepath.IsAbs(c.Server.AdminSocket) {
		c.Server.AdminSocket = filepath.Join(c.Server.DataDir, c.Server.AdminSocket)
	}
	// Unix socket paths are absolute: the length a socket address holds
	// is then checked, and the socket used, as one path whatever the
	// spelling of the configuration's name (relative, absolute, via ..).
	socketAbs(&c.Server.AdminSocket)
	if l, ok := strings.CutPrefix(c.Mailbox.LMTP, "unix:"); ok {
		abs(&l)
		socketAbs(&l)
		c.Mailbox.LMTP = "unix:" + l
	}
	if c.Pickup.Directory != "" && !filepath.IsAbs(c.Pickup.Directory) {
		c.Pickup.Directory = filepath.Join(c.Server.DataDir, c.Pickup.Directory)
	}
	if !filepath.IsAbs(c.Tracking.Path) {
		c.Tracking.Path = filepath.Join(c.Server.DataDir, c.Tracking.Path)
	}
	if c.Mailbox.Maildir != "" && !filepath.IsAbs(c.Mailbox.Maildir) {
		c.Mailbox.Maildir = filepath.Join(c.Server.DataDir, c.Mailbox.Maildir)
	}
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		abs(&rc.TLS.CertFile)
		abs(&rc.TLS.KeyFile)
		abs(&rc.TLS.ClientCAFile)
		abs(&rc.Auth.CredentialsFile)
	}
	for i := range c.SendConnectors {
		abs(&c.SendConnectors[i].Auth.PasswordFile)
	}
}

// socketAbs makes a unix socket path absolute (left as it is when the
// working directory is gone).
func socketAbs(p *string) {
	if *p == "" || filepath.IsAbs(*p) {
		return
	}
	if a, err := filepath.Abs(*p); err == nil {
		*p = a
	}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into an Error with its line.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		// yaml.v3 names a flow collection's error ("while parsing a
		// flow sequence/mapping") by where the collection starts,
		// counted from 0: the line before the one that holds it.
		if strings.HasPrefix(m[2], "did not find expected ',' or ") {
			n++
		}
		return &Error{File: file, Line: n, Msg: m[2]}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// atTab moves a tab's error (yaml.v3: "found a tab character that
// violates indentation") from the line yaml.v3 names — the last content
// line before the tab, where its scanner's context began — to the line
// whose indentation holds the tab (rt33c F2: a tab on line 8 after
// blank lines was said at line 4).
func atTab(e *Error, data []byte) *Error {
	if e.Line == 0 || !strings.Contains(e.Msg, "tab character") {
		return e
	}
	lines := strings.Split(string(data), "\n")
	// A tab after at least the indentation of the content line before
	// it is a block scalar's content, legal ("    \tb" under "    a"):
	// not the tab that violates indentation (rr34 opsrt33). Looked for
	// first; any tab in leading white space only when none is found.
	prev := -1 // the indentation of the last content line before i
	if e.Line-2 >= 0 && e.Line-2 < len(lines) {
		if l := lines[e.Line-2]; strings.TrimSpace(l) != "" {
			prev = len(l) - len(strings.TrimLeft(l, " "))
		}
	}
	for i := e.Line - 1; i < len(lines); i++ {
		l := lines[i]
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if t := strings.IndexByte(indent, '\t'); t >= 0 && (prev < 0 || t < prev) {
			e.Line = i + 1
			return e
		}
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#") && !strings.Contains(indent, "\t") {
			prev = len(indent)
		}
	}
	for i := e.Line - 1; i < len(lines); i++ {
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		if strings.Contains(indent, "\t") {
			e.Line = i + 1
			return e
		}
	}
	return e
}

// decodeErrors splits yaml.v3's decoding errors (type mismatches, and
// the posErrors of our own scalar types) into Errors.
func decodeErrors(file string, err error) Errors {
	var pe *posError
	if errors.As(err, &pe) {
		return Errors{{File: file, Line: pe.line, Msg: pe.msg}}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs Errors
		for _, s := range te.Errors {
			errs = append(errs, yamlError(file, errors.New(s)))
		}
		return errs
	}
	return Errors{yamlError(file, err)}
}

// fieldCheck.check reports every mapping key that names no field of the
// struct type it decodes into, every value of the wrong kind or shape
// for its field (kinds.go), and every duration or size that does not
// parse. yaml.v3's own KnownFields is not carried into
// custom unmarshalers, and its decoder truncates 0.5 into an int and
// reads yes/on as a boolean, so the check walks the node tree itself,
// before anything is decoded. name is the dotted path of n, for messages.
//
// Every such value is reported (not only the first, as the decoder
// would), each at its line and in the operator's words (no Go type
// names), and is marked bad: decodeAll leaves it out and decodes the
// rest. path is n's path (map keys and list indexes) as violations
// name settings.
type fieldCheck struct {
	file  string
	errs  Errors
	bad   map[*yaml.Node]bool
	paths [][]any // the settings left out (a list whose element was: the list)
}

// fail reports msg at line and leaves the node v (at path) out.
func (c *fieldCheck) fail(line int, msg string, v *yaml.Node, path []any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Msg: msg})
	c.bad[v] = true
	if len(path) > 0 {
		if _, elem := path[len(path)-1].(int); elem {
			path = path[:len(path)-1]
		}
	}
	c.paths = append(c.paths, slices.Clone(path))
}

func (c *fieldCheck) check(n *yaml.Node, t reflect.Type, name string, path []any) {
	orig := n
	// The line of an error of the value: an alias's (*n) own, where the
	// value is used wrongly and is to be fixed, not its anchor's (&n),
	// right where it stands (opsrt43 O4).
	line := n.Line
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if msg := wrongKind(n, t, path); msg != "" {
		c.fail(line, name+": "+msg, orig, path)
		return
	}
	if msg := wrongShape(n, t); msg != "" {
		c.fail(line, name+": "+msg, orig, path)
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" && reflect.PointerTo(t).Implements(unmarshalerType) {
		// A duration, a size: its own parser's words, at its line,
		// after the key they are the value of, as every setting's error
		// names it (TestDurationAndSizeErrorsNameTheKey).
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			e := decodeErrors(c.file, err)[0]
			if e.Line == 0 || orig != n {
				e.Line = line // an alias's: the decoder's is its anchor's
			}
			msg := e.Msg
			if name != "" {
				msg = name + ": " + msg
			}
			c.fail(e.Line, msg, orig, path)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch with its line
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kpath := append(slices.Clip(path), k.Value)
			if prev, dup := seen[k.Value]; dup {
				c.fail(k.Line, fmt.Sprintf("key %q repeats the one on line %d", k.Value, prev), v, kpath)
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok && (k.Value == "<<" || k.Tag == "!!merge") {
				// Not a key of any section (rt36 F4: "unknown key" said
				// the name was wrong, not the construct).
				c.fail(k.Line, fmt.Sprintf("YAML merge keys (\"<<\") are not supported: write the settings of %s out in full", entryName(n, name)), v, kpath)
				if len(path) > 0 {
					// The settings it would merge are missing from the
					// whole entry because of it: an error of the entry
					// (a topology server's role "") only follows from
					// it. Said at the merge key alone.
					c.paths = append(c.paths, slices.Clone(path))
				}
				continue
			}
			if !ok {
				c.fail(k.Line, fmt.Sprintf("unknown key %q in %s", k.Value, entryName(n, name)), v, kpath)
				continue
			}
			kname := k.Value
			if name != "" {
				kname = name + "." + k.Value
			}
			c.check(v, ft, kname, kpath)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", name, i), append(slices.Clip(path), i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			c.check(n.Content[i+1], t.Elem(), name+"."+k, append(slices.Clip(path), k))
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for tag, i := range yamlFieldIndex(t) {
		fields[tag] = t.Field(i).Type
	}
	return fields
}

// entryName names the mapping n at the dotted path name in an error:
// its place ("servers[1]", "transport"; "the file" at the top) and,
// when it has one, its name key's value (servers[1] ("hub3.ops.test")),
// never a Go type's words ("topo server").
func entryName(n *yaml.Node, name string) string {
	if name == "" {
		name = "the file"
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			return fmt.Sprintf("%s (%q)", name, v.Value)
		}
	}
	return name
}

// nodeAt is the node at path (map keys and list indexes) below n, nil
// when there is none, and the line of the deepest node of path that
// exists: the one walk of the YAML tree behind lineOf, Written and
// keyWritten.
func nodeAt(n *yaml.Node, path []any) (*yaml.Node, int) {
	line := 0
	for _, p := range path {
		if n == nil {
			return nil, line
		}
		line = n.Line // an alias's own line, not its anchor's (opsrt43 O4)
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch key := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && key >= 0 && key < len(n.Content) {
				next = n.Content[key]
				line = next.Line
			}
		}
		n = next
	}
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		// The value at path written as an alias (*s) is its anchor's
		// (&s 8KiB): every reader of the value as written (floorMsg,
		// shownValue, WrittenValue, writtenAt) reads that, not the
		// alias node, which has no value (rr39).
		n = n.Alias
	}
	return n, line
}

// lineOf finds the line of the node at path (map keys and list indexes)
// below n, falling back to the deepest node that exists.
func lineOf(n *yaml.Node, path []any) int {
	_, line := nodeAt(n, path)
	return line
}

// Written reports whether the setting at path (map keys and list
// indexes) is written in this configuration's file, not a default: a
// check about a value names the line of one the operator wrote.
func (c *Config) Written(path ...any) bool {
	n, _ := nodeAt(c.doc, path)
	return n != nil
}

// WrittenValue is the value of the scalar setting at path as the file
// writes it, before the loader resolves it (a relative path against
// data_dir or the file's directory); "" when the file does not write it.
func (c *Config) WrittenValue(path ...any) string {
	n, _ := nodeAt(c.doc, path)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// ErrorAt is msg as an Error at the line of the setting at path (map
// keys and list indexes) in this configuration's file: for checks made
// outside this package (against the topology, by routing's rules).
func (c *Config) ErrorAt(msg string, path ...any) *Error {
	return &Error{File: c.File, Line: lineOf(c.doc, path), Msg: shownValue(c.File, c.doc, path, msg)}
}

// floorMsg is v's message as the file wrote its value: a size below its
// floor written with a unit (20KiB) is told so, not that a size without
// a unit is bytes (violation.unitMsg).
func floorMsg(doc *yaml.Node, v violation) string {
	if v.unitMsg == "" {
		return v.msg
	}
	n, _ := nodeAt(doc, v.path)
	if n == nil || n.Kind != yaml.ScalarNode {
		return v.msg
	}
	// Every unit a size takes ends in B (ParseSize: KiB, MB, B, ...);
	// a value written without one may still hold more than digits (a
	// sign: +256 is 256 bytes), and keeps the advice that a size
	// without a unit is bytes (rr39).
	w := strings.TrimSpace(n.Value)
	if !strings.HasSuffix(w, "B") {
		return v.msg // no unit written: bytes
	}
	return strings.Replace(v.unitMsg, unitValue, w, 1)
}

// shownValue is msg with the value of the setting at path, where it
// holds a control character (a path with a newline in it), quoted as Go
// quotes a value (strconv.Quote: a newline \n, ESC \x1b) wherever msg
// names it, as written or as resolved against the file's directory (and
// so a path derived from it, data_dir's admin.sock, too): the
// configuration's text rule for every value an error names
// (TestOPS3ConfigErrorShowsAControlCharacterOnce), which config check,
// serve and a reload's log line keep as it is. Written raw, a path's
// newline forged a line of its own ("hub.yaml: ok (…)") and split one
// error of config check --json into several.
func shownValue(file string, doc *yaml.Node, path []any, msg string) string {
	n, _ := nodeAt(doc, path)
	if n == nil || n.Kind != yaml.ScalarNode || !strings.ContainsFunc(n.Value, isControlChar) {
		return msg
	}
	v := n.Value
	var forms []string
	if !filepath.IsAbs(v) && file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			forms = append(forms, filepath.Join(filepath.Dir(abs), v))
		}
		forms = append(forms, filepath.Join(filepath.Dir(file), v))
	}
	forms = append(forms, filepath.Clean(v), v)
	for _, f := range forms {
		if strings.Contains(msg, f) {
			return strings.ReplaceAll(msg, f, strconv.Quote(f))
		}
	}
	return msg
}

// ShownPath is a file name as an error writes it, by the text rule of
// every value an error names (shownValue): as it is, or, where it holds
// a control character (a newline), quoted as Go quotes a value. An
// Error's own file name (the topology's, read from a path a setting
// gave) is written so, as is a path a message of the command names.
func ShownPath(p string) string {
	if !strings.ContainsFunc(p, isControlChar) {
		return p
	}
	return strconv.Quote(p)
}

// isControlChar reports whether r is a C0 control character or DEL.
func isControlChar(r rune) bool { return r < 0x20 || r == 0x7f }
