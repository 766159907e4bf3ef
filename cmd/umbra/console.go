package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/console"
	"umbra/internal/routing"
	"umbra/internal/shadow"
	"umbra/internal/smtp"
)

// startConsole opens the web console's listener when console.listen is
// set (nil, nil otherwise). It serves the admin API's handler, so the
// console's reads and actions are the CLI's.
func startConsole(cfg *config.Config, adm *admin.Server, shadows *shadow.Manager, health *console.Health,
	log *slog.Logger, cur func() *config.Config) (*console.Server, error) {
	if cfg.Console.Listen == "" {
		return nil, nil
	}
	cert, creds, credFile, err := consoleFiles(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return nil, fmt.Errorf("console listener: %w", err)
	}
	c := console.Config{Listener: ln, Certificate: cert, Hosts: cfg.Console.Hosts, Credentials: creds, CredentialsFile: credFile,
		API: adm.Handler(), Health: health, Self: cfg.Server.Name, SessionIdle: cfg.Console.SessionIdle.D(), Log: log}
	if shadows != nil {
		c.Shadows = shadows.Status
	}
	// Read at each request, from the configuration in force (cur, which
	// a SIGHUP reload changes): the map shows the topology routing uses,
	// even one a reload added or moved.
	if cur == nil {
		cur = func() *config.Config { return cfg }
	}
	// The credentials file too: a reload that moves the connector's
	// auth.credentials_file, from which the console's derives, has the
	// console read the new one (an account revoked there is not let in).
	c.CredentialsPath = func() string {
		if cc := cur(); cc != nil && cc.Console.Listen != "" {
			return config.ConsoleCredentials(cc)
		}
		return ""
	}
	c.Topology = func() (*console.Topology, error) {
		path := cur().Topology
		if path == "" {
			return nil, nil
		}
		return consoleTopology(path)
	}
	s := console.New(c)
	go s.Serve()
	return s, nil
}

// consoleFiles loads the console's certificate and credentials file, as
// serve does at start and config check does before it (nothing when the
// console is off).
func consoleFiles(cfg *config.Config) (tls.Certificate, *smtp.Credentials, string, error) {
	if cfg.Console.Listen == "" {
		return tls.Certificate{}, nil, "", nil
	}
	// Both are loaded, each refusal a FileError at the setting that
	// names the file (placed at its line), so that one run reports a
	// bad certificate and a bad credentials file.
	cert, certErr := config.LoadConsoleCertificate(cfg)
	credFile, at := config.ConsoleCredentialsAt(cfg)
	var creds *smtp.Credentials
	var credErr error
	if credFile != "" { // else left out by a check that refused it
		creds, credErr = smtp.LoadCredentialsAt(credFile, at...)
		if credErr == nil && creds.LoginAccounts() == 0 {
			// 0 bytes, only comments, or only transport server accounts
			// (which the console refuses): nobody could log in, as with
			// no file at all (config: a console needs one) — refused at
			// the setting's line like an empty recipients or
			// credentials file (opsfix26).
			credErr = config.NewFileError(credFile, errors.New("holds no account that may log in to the web console "+
				"(transport server accounts cannot): nobody could log in; add name:bcrypt-hash lines, or turn the console off"), at...)
		}
	}
	if err := flatJoin(certErr, credErr); err != nil {
		return tls.Certificate{}, nil, "", cfg.Place(err)
	}
	return cert, creds, credFile, nil
}

// flatJoin is errors.Join of errs with the errors each joins taken out,
// so that config.Place puts each at its line; nil when all are nil.
func flatJoin(errs ...error) error {
	var flat []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
		} else if err != nil {
			flat = append(flat, err)
		}
	}
	switch len(flat) {
	case 0:
		return nil
	case 1:
		return flat[0]
	}
	return errors.Join(flat...)
}

// consoleTopology reads the topology file and resolves each server's site
// as routing does (its site, else its address in a site's subnets).
func consoleTopology(path string) (*console.Topology, error) {
	ct, err := config.LoadTopology(path)
	if err != nil {
		return nil, err
	}
	rt, err := routing.NewTopology(topologyInput(ct))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &console.Topology{}
	for _, s := range ct.Sites {
		t.Sites = append(t.Sites, console.TopoSite{Name: s.Name, Hub: s.HubSite})
	}
	for _, l := range ct.SiteLinks {
		t.Links = append(t.Links, console.TopoLink{Name: l.Name, Sites: l.Sites, Cost: l.Cost, UmbraCost: l.UmbraCost})
	}
	for _, s := range ct.Servers {
		site := s.Site
		if rs, ok := rt.Server(s.Name); ok {
			site = rs.Site
		}
		t.Servers = append(t.Servers, console.TopoServer{Name: s.Name, Role: s.Role, Site: site, Address: s.Address})
	}
	return t, nil
}
