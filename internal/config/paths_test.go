package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pathSetting reports whether a yaml key names a file or directory.
func pathSetting(key string) bool {
	for _, s := range []string{"file", "path", "dir", "directory", "socket", "maildir", "topology"} {
		if key == s || strings.HasSuffix(key, "_"+s) || strings.HasPrefix(key, s+"_") {
			return true
		}
	}
	return false
}

// setRelative writes "rel/<key>" into every path setting reachable from
// v (growing empty slices of structs to one element), and returns the
// dotted names it set.
func setRelative(v reflect.Value, name string, out *[]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			setRelative(v.Elem(), name, out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		}
		for i := 0; i < v.Len(); i++ {
			setRelative(v.Index(i), name+"[]", out)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if key == "-" {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.String && pathSetting(key) {
				fv.SetString("rel/" + key)
				*out = append(*out, strings.TrimPrefix(name+"."+key, "."))
				continue
			}
			setRelative(fv, name+"."+key, out)
		}
	}
}

// Every relative path a configuration names is resolved against the
// configuration file's directory, never against the working directory:
// otherwise config check from one directory passes what serve, started
// from another, refuses (or reads another file) (rt34 F7: outbound_tls
// ca_file and the MTA-STS policy's certificate and key escaped). The
// walk finds every path setting by its key, so a new one that
// resolvePaths forgets fails here.
func TestEveryRelativePathIsUnderTheConfigDirectory(t *testing.T) {
	// dns.hosts_file must be absolute (a config error otherwise).
	exempt := map[string]bool{"dns.hosts_file": true}
	c := newWithPresets()
	var set []string
	setRelative(reflect.ValueOf(c).Elem(), "", &set)
	if len(set) < 20 {
		t.Fatalf("the walk found only %d path settings: %v", len(set), set)
	}
	base := filepath.Join(string(filepath.Separator), "etc", "umbra")
	resolvePaths(c, base)
	var got []string
	setRelativeCheck(reflect.ValueOf(c).Elem(), "", func(name, p string) {
		if exempt[name] {
			return
		}
		got = append(got, name)
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, base+string(filepath.Separator)) {
			t.Errorf("%s: %q is not resolved against the configuration's directory %s", name, p, base)
		}
	})
	if len(got) != len(set)-len(exempt) {
		t.Errorf("checked %d of %d path settings", len(got), len(set))
	}
}

// setRelativeCheck calls check with every path setting reachable from v.
func setRelativeCheck(v reflect.Value, name string, check func(name, path string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			setRelativeCheck(v.Elem(), name, check)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		for i := 0; i < v.Len(); i++ {
			setRelativeCheck(v.Index(i), name+"[]", check)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || key == "-" {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.String && pathSetting(key) {
				check(strings.TrimPrefix(name+"."+key, "."), fv.String())
				continue
			}
			setRelativeCheck(fv, name+"."+key, check)
		}
	}
}
