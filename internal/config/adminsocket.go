package config

import (
	"errors"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// AdminSocketOf is the admin socket a configuration file names, read
// leniently: server.data_dir and server.admin_socket only, with the
// defaults and the path resolution Load gives them, whatever else in
// the file is wrong. A file edited into an invalid state since its
// daemon read it still names that daemon's socket, so a command that
// asks the daemon for the configuration it runs (route explain) finds
// it. "" when the file cannot be read or is not YAML.
func AdminSocketOf(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var f struct {
		Server struct {
			DataDir     string `yaml:"data_dir"`
			AdminSocket string `yaml:"admin_socket"`
		} `yaml:"server"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		// Another setting of the wrong type leaves the rest decoded; a
		// wrong one of these two finds no daemon, and the caller falls
		// back to loading the file, which names the error.
		if te := (*yaml.TypeError)(nil); !errors.As(err, &te) {
			return ""
		}
	}
	c := &Config{}
	c.Server.DataDir, c.Server.AdminSocket = f.Server.DataDir, f.Server.AdminSocket
	if c.Server.DataDir == "" {
		c.Server.DataDir = defaultDataDir
	}
	if c.Server.AdminSocket == "" {
		c.Server.AdminSocket = defaultAdminSocket
	}
	resolvePaths(c, filepath.Dir(path)) // as Load places them
	return c.Server.AdminSocket
}
