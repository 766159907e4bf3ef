package main

import (
	"net"
	"path/filepath"
	"strings"

	"umbra/internal/config"
)

// configSlips are the values that load but are unlikely to be what the
// operator meant (rt51 F8); config check warns about each:
//   - a binding on port 0 listens on a port the kernel picks, another one
//     at every start, so no client finds it;
//   - a relative path resolved under data_dir (admin_socket,
//     pickup.directory, tracking.path, mailbox.maildir) that starts
//     with data_dir's own path as written: data_dir: data with
//     admin_socket: data/admin.sock is data/data/admin.sock (rt36 F3);
//   - a server name with no dot is no fully qualified domain name, yet it
//     is the name of the banner, EHLO, Received fields and DSNs, and other
//     servers check it.
func configSlips(cfg *config.Config) []string {
	var out []string
	for i, rc := range cfg.ReceiveConnectors {
		for j, b := range rc.Bindings {
			if _, port, err := net.SplitHostPort(b); err == nil && strings.Trim(port, "0") == "" {
				out = append(out, warnAt(cfg, []any{"receive_connectors", i, "bindings", j}, "receive connector %q: binding %q listens on a port the kernel picks, "+
					"another one at every start (the log's listen= names it): give the port clients connect to", rc.Name, b))
			}
		}
	}
	out = append(out, dataDirTwice(cfg)...)
	if n := strings.TrimSuffix(cfg.Server.Name, "."); n != "" && !strings.Contains(n, ".") {
		out = append(out, warnAt(cfg, []any{"server", "name"}, "server.name %q is not a fully qualified domain name: it is the name of the banner, "+
			"EHLO, Received fields and DSNs, which other servers look up", cfg.Server.Name))
	}
	return out
}

// dataDirTwice warns of each relative path umbra resolves under
// data_dir that starts with data_dir's own path as the file writes it
// (relative, resolved against the file's directory, or absolute): the
// directory comes twice in the path used, which is rarely what was
// meant. The warning names the path used and what to write instead.
func dataDirTwice(cfg *config.Config) []string {
	d := cfg.WrittenValue("server", "data_dir")
	if d == "" {
		return nil
	}
	dc := filepath.Clean(d)
	var out []string
	for _, s := range []struct {
		path     []any
		name     string
		resolved string
	}{
		{[]any{"server", "admin_socket"}, "server.admin_socket", cfg.Server.AdminSocket},
		{[]any{"pickup", "directory"}, "pickup.directory", cfg.Pickup.Directory},
		{[]any{"tracking", "path"}, "tracking.path", cfg.Tracking.Path},
		{[]any{"mailbox", "maildir"}, "mailbox.maildir", cfg.Mailbox.Maildir},
	} {
		v := cfg.WrittenValue(s.path...)
		if v == "" || filepath.IsAbs(v) {
			continue
		}
		vc := filepath.Clean(v)
		under := dc
		if filepath.IsAbs(dc) {
			under = strings.TrimPrefix(dc, "/") // data_dir /var/lib/umbra, admin_socket var/lib/umbra/admin.sock
		}
		rest, ok := strings.CutPrefix(vc, under+"/")
		if !ok || under == "." {
			continue
		}
		out = append(out, warnAt(cfg, s.path, "%s %q is relative, so it is under server.data_dir (%q): it is %s; write %q for %s",
			s.name, v, d, s.resolved, rest, filepath.Join(cfg.Server.DataDir, rest)))
	}
	return out
}
