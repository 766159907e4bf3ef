package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// AdminSocketOf is the admin socket a configuration file names, read
// leniently: server.data_dir and server.admin_socket only, with the
// defaults and the path resolution Load gives them, whatever else in
// the file is wrong. A file edited into an invalid state since its
// daemon read it still names that daemon's socket, so a command that
// asks the daemon for the configuration it runs (route explain) finds
// it. A file that is not YAML at all (a syntax slip anywhere: a
// duplicate key, an unclosed [, a bad indent; rt24c F5) is read line by
// line for the two keys of its top-level server block (serverKeysOf),
// so that the slip of an edit in progress does not cut the commands off
// from the daemon. "" when the file cannot be read, or its server block
// cannot be told apart.
func AdminSocketOf(path string) string {
	_, sock := serverPathsOf(path)
	return sock
}

// DataDirOf is the data directory a configuration file names, read as
// leniently as AdminSocketOf reads the socket: the CLI finds the
// transport database of the daemon behind a socket a file mid-edit
// names, to tell a daemon whose socket is gone from one not running. ""
// when AdminSocketOf would give "".
func DataDirOf(path string) string {
	dir, _ := serverPathsOf(path)
	return dir
}

// serverPathsOf is server.data_dir and server.admin_socket of the file
// at path, read leniently (AdminSocketOf); "", "" when not told.
func serverPathsOf(path string) (string, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", ""
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
		// A duplicate key is a TypeError that ends the decode: what it
		// left unset is read from the lines too.
		dd, as, ok := serverKeysOf(string(data))
		if te := (*yaml.TypeError)(nil); !errors.As(err, &te) && !ok {
			return "", ""
		}
		if f.Server.DataDir == "" {
			f.Server.DataDir = dd
		}
		if f.Server.AdminSocket == "" {
			f.Server.AdminSocket = as
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
	return c.Server.DataDir, c.Server.AdminSocket
}

// serverKeysOf reads server.data_dir and server.admin_socket from the
// text of a file that does not parse as YAML: the lines of its
// top-level "server:" block (block style) at the block's own indent,
// the first of each key; a value that does not read as a YAML scalar is
// left unset. false when the file has no such block it can tell apart
// (none at all: the defaults, as for a file that names neither).
func serverKeysOf(text string) (dataDir, adminSocket string, ok bool) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	start := -1
	for i, l := range lines {
		k, rest, found := strings.Cut(l, ":")
		if !found || k != "server" {
			continue
		}
		if r := strings.TrimSpace(rest); r != "" && !strings.HasPrefix(r, "#") {
			return "", "", false // flow style, or not the block: not told apart
		}
		if start >= 0 {
			return "", "", false // two server blocks: which one the daemon read is not known
		}
		start = i + 1
	}
	if start < 0 {
		return "", "", true
	}
	indent := -1
	for _, l := range lines[start:] {
		body := strings.TrimLeft(l, " ")
		if body == "" || strings.HasPrefix(body, "#") {
			continue
		}
		n := len(l) - len(body)
		if n == 0 {
			break // the next top-level key: the block ended
		}
		if indent < 0 {
			indent = n
		}
		if n != indent {
			continue
		}
		k, rest, found := strings.Cut(body, ":")
		if !found || (k != "data_dir" && k != "admin_socket") {
			continue
		}
		var v struct {
			V string `yaml:"v"`
		}
		if yaml.Unmarshal([]byte("v:"+rest), &v) != nil {
			continue
		}
		switch {
		case k == "data_dir" && dataDir == "":
			dataDir = v.V
		case k == "admin_socket" && adminSocket == "":
			adminSocket = v.V
		}
	}
	return dataDir, adminSocket, true
}

// FileKind names what a file of mode m is in the words config check
// uses ("a regular file", "a directory", "a FIFO", …): the daemon's and
// the CLI's messages about a file at the admin socket's path say the
// same (rt24c F13; fs.FileMode's own string of a regular file's type is
// "----------").
func FileKind(m os.FileMode) string { return fileKind(m) }
