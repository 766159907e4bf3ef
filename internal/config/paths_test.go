package config

import (
	"os"
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

// The admin socket's length is checked, and the socket used, as one
// path whatever the spelling of the configuration's name: a data_dir
// whose relative socket path fits in a unix socket address and whose
// absolute one does not made the same file "ok" from its directory and
// invalid (serve refused, every command exit 2) named absolutely (rt34
// F11). Both spellings now give the same absolute socket and the same
// refusal. Same for a relative unix: LMTP path, which was resolved
// against the working directory.
func TestSocketPathsDoNotDependOnTheConfigSpelling(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	const conn = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	// relative socket: <data>/admin.sock fits (admin_socket is under data_dir); absolute: dir/<data>/admin.sock does not.
	fits := strings.Repeat("y", maxSocketPath-len("/admin.sock"))
	if len(filepath.Join(dir, fits, "admin.sock")) <= maxSocketPath {
		t.Fatalf("temporary directory %s too short for the test", dir)
	}
	for _, tc := range []struct {
		name, yaml string
		line       int // 0: valid
		msg        string
	}{
		{"derived admin socket", "server:\n  name: mx.a.test\n  data_dir: " + fits + "\n" + conn, 3, "server.data_dir"},
		{"relative admin socket", "server:\n  name: mx.a.test\n  data_dir: .\n  admin_socket: " + fits + "/admin.sock\n" + conn, 4, "server.admin_socket"},
		{"relative lmtp socket", "server:\n  name: mx.a.test\n  data_dir: d\n" + conn + "mailbox:\n  lmtp: unix:" + fits + "/lmtp.sock\n", 8, "mailbox.lmtp"},
		{"short ones", "server:\n  name: mx.a.test\n  data_dir: d\n  admin_socket: s/admin.sock\n" + conn + "mailbox:\n  lmtp: unix:l.sock\n", 0, ""},
	} {
		if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		var sockets []string
		for _, name := range []string{"c.yaml", filepath.Join(dir, "c.yaml"), filepath.Join("..", filepath.Base(dir), "c.yaml")} {
			c, err := Load(name)
			if tc.line == 0 {
				if err != nil {
					t.Errorf("%s as %s: %v", tc.name, name, err)
					continue
				}
				sockets = append(sockets, c.Server.AdminSocket, c.Mailbox.LMTP)
				continue
			}
			es, ok := err.(Errors)
			if !ok || len(es) != 1 || es[0].Line != tc.line || !strings.Contains(es[0].Msg, tc.msg) {
				t.Errorf("%s as %s: want one error at line %d naming %s, got\n%v", tc.name, name, tc.line, tc.msg, err)
			}
		}
		if tc.line == 0 {
			want := []string{filepath.Join(dir, "d", "s", "admin.sock"), "unix:" + filepath.Join(dir, "l.sock")}
			for i, s := range sockets {
				if s != want[i%2] {
					t.Errorf("%s: socket %q, want %q", tc.name, s, want[i%2])
				}
			}
		}
	}
}
