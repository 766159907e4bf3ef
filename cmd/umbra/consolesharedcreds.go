package main

import (
	"umbra/internal/config"
)

// consoleOnSMTPAccounts warns, at the line of console.listen, of a
// console that checks its logins against a receive connector's AUTH
// credentials file (no console.credentials_file): every SMTP AUTH
// account of that connector can log into the console, with full queue
// control and message export of any message — documented, and said
// nowhere else by config check or the start (opsrt43 O2).
func consoleOnSMTPAccounts(cfg *config.Config) []string {
	if cfg.Console.Listen == "" || cfg.Console.CredentialsFile != "" {
		return nil
	}
	file, at := config.ConsoleCredentialsAt(cfg)
	if file == "" || len(at) < 2 {
		return nil // no file at all: the console's own check refuses it
	}
	i, _ := at[1].(int)
	return []string{warnAt(cfg, []any{"console", "listen"},
		"every SMTP AUTH account of receive connector %q (its auth.credentials_file %s) can log into the console, with full control of the queues "+
			"and message export of any message: console.credentials_file is not set, so the console takes that file; "+
			"give the console its own file of name:bcrypt-hash lines with console.credentials_file",
		cfg.ReceiveConnectors[i].Name, shown(file))}
}
