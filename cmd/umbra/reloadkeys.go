package main

import (
	"reflect"
	"strings"
)

// changedKeys names the settings that differ between two values of one
// configuration section, as the file spells them (section.key, nested
// structs as section.key.sub), so that a reload needing a restart says
// which setting needs it (server.metrics_listen), not only the section.
func changedKeys(section string, a, b any) []string {
	return diffKeys(section, reflect.ValueOf(a), reflect.ValueOf(b))
}

func diffKeys(prefix string, a, b reflect.Value) []string {
	if a.Kind() != reflect.Struct {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return nil
		}
		return []string{prefix}
	}
	var out []string
	for i := 0; i < a.NumField(); i++ {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, diffKeys(prefix+"."+name, a.Field(i), b.Field(i))...)
	}
	return out
}
