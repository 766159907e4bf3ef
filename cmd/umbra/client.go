package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
)

// Exit codes of the management commands, beyond those in main.go.
const (
	exitNotFound    = 3  // no such message or queue
	exitBusy        = 4  // the message is in delivery; try again
	exitUnavailable = 69 // the daemon does not answer (EX_UNAVAILABLE)
)

// loadConfig reads --config, or the embedded default without it.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	file, _ := cmd.Flags().GetString("config")
	if file == "" {
		return config.LoadDefault()
	}
	return config.Load(file)
}

// adminClient connects to --socket, or to the admin socket named by the
// configuration.
func adminClient(cmd *cobra.Command) (*admin.Client, error) {
	path, _ := cmd.Flags().GetString("socket")
	if path == "" {
		cfg, err := loadConfig(cmd)
		if err != nil {
			return nil, &exitError{code: exitConfig, err: err}
		}
		path = cfg.Server.AdminSocket
	}
	return admin.NewClient(path), nil
}

// apiErr maps an admin API error to an exit code scripts can rely on.
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *admin.APIError
	switch {
	case errors.Is(err, admin.ErrUnavailable):
		return &exitError{code: exitUnavailable, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return &exitError{code: exitNotFound, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		return &exitError{code: exitBusy, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitFailure, err: err}
}

func wantJSON(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
