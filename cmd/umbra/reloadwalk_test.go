package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"umbra/internal/config"
)

// perturb changes the first setting it can reach in v (a leaf of a
// struct, a slice grown by one) and reports whether it did.
func perturb(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("yaml") != "-" && perturb(v.Field(i)) {
				return true
			}
		}
		return false
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 0.5)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Pointer:
		if !v.IsNil() {
			return perturb(v.Elem())
		}
		v.Set(reflect.New(v.Type().Elem()))
	default:
		return false
	}
	return true
}

func yamlNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "-" && name != "" {
			out = append(out, name)
		}
	}
	return out
}

// Every top-level key of the configuration, and every transport key, is
// either applied by a reload or named by it as needing a restart (rt38
// F4: console and pickup were neither, and a reload said "configuration
// reloaded" with nothing applied). A change of a restart-only key is
// named by its own name, not a group's; a change of a transport key a
// reload applies is not named.
func TestReloadClassifiesEveryKey(t *testing.T) {
	t.Parallel()
	for _, key := range yamlNames(reflect.TypeOf(config.Config{})) {
		if slices.Contains(reloadApplied, key) == slices.Contains(reloadRestart, key) {
			t.Errorf("%s: in neither or both of reloadApplied and reloadRestart", key)
		}
	}
	base := func() *config.Config {
		c, err := config.Parse([]byte("server: {name: mx.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:0\"]}]\n"), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, key := range reloadRestart {
		if key == "outbound_tls" { // compared as written in the file: TestRestartOnlyComparedWithRunning
			continue
		}
		cur, next := base(), base()
		f := reflect.ValueOf(next).Elem().FieldByIndex(fieldIndex(t, reflect.TypeOf(config.Config{}), key))
		if !perturb(f) {
			t.Fatalf("%s: nothing to change", key)
		}
		got := restartOnly(cur, next)
		if len(got) == 0 || !strings.HasPrefix(got[0], key+".") && got[0] != key {
			t.Errorf("a change of %s: needs a restart %q", key, got)
		}
		if strings.Contains(strings.Join(got, " "), "/") {
			t.Errorf("a change of %s named as a group: %q", key, got)
		}
		cur2 := base()
		keepRunning(cur2, next)
		if got := restartOnly(cur2, next); len(got) != 0 {
			t.Errorf("%s: after keepRunning the next reload still names %q", key, got)
		}
	}
	for _, key := range yamlNames(reflect.TypeOf(config.Transport{})) {
		cur, next := base(), base()
		f := reflect.ValueOf(&next.Transport).Elem().FieldByIndex(fieldIndex(t, reflect.TypeOf(config.Transport{}), key))
		if !perturb(f) {
			t.Fatalf("transport.%s: nothing to change", key)
		}
		got := restartOnly(cur, next)
		if slices.Contains(transportRestart, key) {
			if len(got) != 1 || !strings.HasPrefix(got[0], "transport."+key) {
				t.Errorf("a change of transport.%s: needs a restart %q", key, got)
			}
		} else if len(got) != 0 {
			t.Errorf("a change of transport.%s, which a reload applies: needs a restart %q", key, got)
		}
	}
}

func fieldIndex(t *testing.T, typ reflect.Type, key string) []int {
	for i := 0; i < typ.NumField(); i++ {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ","); name == key {
			return []int{i}
		}
	}
	t.Fatalf("no key %s", key)
	return nil
}
