package admin

import (
	"reflect"

	"umbra/internal/jsonsafe"
)

// A string from the network (a sender, a Subject, a next hop's reply)
// may hold bytes that are not UTF-8. JSON has no way to write such a
// byte, and encoding/json would write U+FFFD in its place — hiding which
// byte it was, and looking like a character the sender wrote. The API
// writes each such byte as the text \xNN instead, as the CLI and the
// daemon's text log show it (so `umbra message show` prints \xe9 for a
// Latin-1 é, with or without --json). writeJSON applies textBytes to
// every value it writes, but to a struct field tagged text:"as-is",
// which its producer wrote in this form already (ReloadState's error
// and pending: a configuration's refusal, its values escaped once by
// the configuration's text rule).

// TextBytes is s with each byte that is not part of valid UTF-8 written
// as \xNN (lower-case hex), and a run of literal backslashes that would
// read as such an escape doubled: a reply holding the byte 0xe9 and one
// holding the text \xe9 show apart in message list and show, as in the
// tracking log (the operator must be able to tell which bytes a next hop
// sent); other text is returned as it is. The rule is jsonsafe.TextBytes,
// which the tracking log writes its lines with.
func TextBytes(s string) string { return jsonsafe.TextBytes(s) }

// textBytes is v with TextBytes applied to every string JSON would
// write (exported struct fields, slice and array elements, map keys and
// values, through pointers and interfaces). What TextBytes leaves as it
// is is returned itself, not copied; what it changes is copied, so that the
// caller's value (often the queue's own) is never changed.
func textBytes(v any) any {
	if v == nil {
		return nil
	}
	nv, changed := textBytesValue(reflect.ValueOf(v))
	if !changed {
		return v
	}
	return nv.Interface()
}

func textBytesValue(v reflect.Value) (reflect.Value, bool) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		// Valid UTF-8 changes too when it holds the text \xNN: its
		// backslash is doubled, so that it does not read as a byte.
		t := TextBytes(s)
		if t == s {
			return v, false
		}
		nv := reflect.New(v.Type()).Elem()
		nv.SetString(t)
		return nv, true
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		e, changed := textBytesValue(v.Elem())
		if !changed {
			return v, false
		}
		nv := reflect.New(v.Type().Elem())
		nv.Elem().Set(e)
		return nv, true
	case reflect.Interface:
		if v.IsNil() {
			return v, false
		}
		e, changed := textBytesValue(v.Elem())
		if !changed {
			return v, false
		}
		nv := reflect.New(v.Type()).Elem()
		nv.Set(e)
		return nv, true
	case reflect.Struct:
		var nv reflect.Value
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if !t.Field(i).IsExported() || t.Field(i).Tag.Get("text") == "as-is" {
				continue // a field in this text form already (its producer's): never escaped twice
			}
			f, changed := textBytesValue(v.Field(i))
			if !changed {
				continue
			}
			if !nv.IsValid() {
				nv = reflect.New(t).Elem()
				nv.Set(v)
			}
			nv.Field(i).Set(f)
		}
		if !nv.IsValid() {
			return v, false
		}
		return nv, true
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && (v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8) {
			return v, false // []byte is base64 in JSON
		}
		var nv reflect.Value
		for i := 0; i < v.Len(); i++ {
			e, changed := textBytesValue(v.Index(i))
			if !changed {
				continue
			}
			if !nv.IsValid() {
				if v.Kind() == reflect.Slice {
					nv = reflect.MakeSlice(v.Type(), v.Len(), v.Len())
					reflect.Copy(nv, v)
				} else {
					nv = reflect.New(v.Type()).Elem()
					nv.Set(v)
				}
			}
			nv.Index(i).Set(e)
		}
		if !nv.IsValid() {
			return v, false
		}
		return nv, true
	case reflect.Map:
		if v.IsNil() {
			return v, false
		}
		changed := false
		keys := make([]reflect.Value, 0, v.Len())
		vals := make([]reflect.Value, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, kc := textBytesValue(it.Key())
			e, ec := textBytesValue(it.Value())
			changed = changed || kc || ec
			keys, vals = append(keys, k), append(vals, e)
		}
		if !changed {
			return v, false
		}
		nv := reflect.MakeMapWithSize(v.Type(), len(keys))
		for i := range keys {
			nv.SetMapIndex(keys[i], vals[i])
		}
		return nv, true
	}
	return v, false
}
