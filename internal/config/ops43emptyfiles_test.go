package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fileKeys lists the paths of every string key that names a file umbra
// reads (isFileKey; lists of structs at their first element).
func fileKeys(t reflect.Type, path []any, out *[]sweptKey) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || tag == "" || !f.IsExported() {
			continue
		}
		p := append(append([]any{}, path...), tag)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			fileKeys(ft, p, out)
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Struct {
				fileKeys(ft.Elem(), append(p, 0), out)
			}
		case reflect.String:
			if isFileKey(path, tag) {
				*out = append(*out, sweptKey{path: p})
			}
		}
	}
}

// OPS-43 item 6: "" for a file setting is either a setting of its own —
// the feature the file serves is off, listed in emptyFileOff (and the
// README's "The empty file settings") — or refused at its line. Every
// file key of the configuration is written "" in turn; each one
// accepted is listed, each listed is accepted, and EmptyFilesOff says
// at its line what it turns off.
func TestOPS43EmptyFileSettingsAreOffOrRefused(t *testing.T) {
	sections := map[string]string{
		"":                              "",
		"ldap.":                         "ldap: {url: \"ldap://127.0.0.160:12389\", base_dn: \"dc=example,dc=test\"}\n",
		"outbound_tls.mta_sts_publish.": "outbound_tls: {mta_sts_publish: {listen: \"127.0.0.160:12443\", cert_file: c.pem, key_file: k.pem, mx: [mx.example.test]}}\n",
	}
	bases := map[string]*yaml.Node{}
	for prefix, extra := range sections {
		var base yaml.Node
		if err := yaml.Unmarshal([]byte(zeroSweepBase+extra), &base); err != nil {
			t.Fatal(err)
		}
		bases[prefix] = &base
	}
	var keys []sweptKey
	fileKeys(reflect.TypeOf(Config{}), nil, &keys)
	accepted := map[string]bool{}
	for _, key := range keys {
		name := dotted(key.path)
		base := bases[""]
		for prefix, b := range bases {
			if prefix != "" && strings.HasPrefix(name, prefix) {
				base = b
			}
		}
		doc := cloneNode(base)
		line := setValue(doc, key.path, yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""})
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(out, "z.yaml")
		listed := emptyFileOff[emptyFileName(key.path)] != ""
		if err != nil {
			if listed {
				t.Errorf("%s: \"\" is listed as turning its feature off, but refused: %v", name, err)
			}
			continue
		}
		accepted[emptyFileName(key.path)] = true
		if !listed {
			t.Errorf("%s: \"\" is accepted, but neither refused at its line nor listed as turning a feature off (emptyFileOff)", name)
			continue
		}
		ws := cfg.EmptyFilesOff()
		want := "z.yaml:" + strconv.Itoa(line) + ": warning: " + name + " is \"\": " + emptyFileOff[emptyFileName(key.path)]
		if len(ws) != 1 || ws[0] != want {
			t.Errorf("%s: EmptyFilesOff %q, want [%q]", name, ws, want)
		}
	}
	var stale []string
	for k := range emptyFileOff {
		if !accepted[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("%s is listed in emptyFileOff but is no file key accepting \"\"", k)
	}
	// A key left out is not warned of.
	cfg, err := Parse([]byte(zeroSweepBase), "z.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ws := cfg.EmptyFilesOff(); len(ws) != 0 {
		t.Errorf("no file key written: EmptyFilesOff %q, want none", ws)
	}
}
