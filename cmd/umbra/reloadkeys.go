package main

import (
	"os"
	"path/filepath"
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
		if a.Kind() == reflect.String && pathKey(prefix) && samePlace(a.String(), b.String()) {
			return nil // one file or directory by another name (rt28e F4)
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

// What a reload does with each top-level key of the configuration
// (reloadkeys_test.go walks config.Config so that a new key is put in
// one list or the other, never silently ignored by a reload):
// reloadApplied are applied in place (with the named exceptions their
// sections list: transportRestart, recipients.callout, back_pressure.enabled);
// reloadRestart are read at start, and a change of any key in them is
// named by the reload's warning (restartOnly).
var (
	reloadApplied = []string{"transport", "accepted_domains", "receive_connectors", "send_connectors", "mailbox",
		"topology", "recipients", "back_pressure", "dkim", "organisation_authserv_ids"}
	reloadRestart = []string{"server", "tracking", "pickup", "ldap", "auth_throttle", "console", "dns", "outbound_tls"}
	// transportRestart are the transport keys read at start.
	transportRestart = []string{"max_active", "result_commit_delay", "poison_threshold", "initial_destination_concurrency",
		"dead_destination_cool_down", "shadow_redundancy_enabled", "max_hop_count", "bounce_size_limit",
		"spool_threshold", "max_header_size", "body_memory_limit", "space_reserve"}
)

// yamlField is the field of struct v whose yaml name is key.
func yamlField(v any, key string) any {
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		if name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ","); name == key {
			return rv.Field(i).Interface()
		}
	}
	panic("no configuration key " + key)
}

// pathKey reports whether the setting named key (section.name) is a
// file or directory path: data_dir, admin_socket, a *_file, a *_dir, a
// directory, a path.
func pathKey(key string) bool {
	name := key[strings.LastIndex(key, ".")+1:]
	return name == "data_dir" || name == "admin_socket" || name == "directory" || name == "path" ||
		strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_dir")
}

// samePlace reports whether the paths a and b name one file or
// directory: the same text once cleaned, or the same identity (device
// and inode) where both exist — a directory named through a symbolic
// link (data_dir: blink, with blink -> data) is the directory a restart
// opens, so no change (rt28e F4) — or, where neither exists, the same
// name in one directory by identity (the tracking log not made yet).
// One that exists and one that does not are different places.
//
// a is the path the daemon runs with: judged by identity only while it
// leads through no symbolic link, so that it names now what it named at
// the start. A running path through a link (data_dir: /srv/current,
// current -> v1) may lead elsewhere since (current switched to v2): the
// daemon still runs on v1, and a file naming v2 is a change a restart
// makes — compared as text, it is one.
func samePlace(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	if a == "" || b == "" || !linkFree(a) {
		return false
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	switch {
	case errA == nil && errB == nil:
		return os.SameFile(fa, fb)
	case errA == nil || errB == nil:
		return false
	}
	if filepath.Base(a) != filepath.Base(b) {
		return false
	}
	da, errA := os.Stat(filepath.Dir(a))
	db, errB := os.Stat(filepath.Dir(b))
	return errA == nil && errB == nil && os.SameFile(da, db)
}

// linkFree reports whether path (absolute) leads through no symbolic
// link: the path itself when it exists, else its directory.
func linkFree(path string) bool {
	p := filepath.Clean(path)
	if _, err := os.Lstat(p); err != nil {
		p = filepath.Dir(p)
	}
	r, err := filepath.EvalSymlinks(p)
	return err == nil && r == p
}
