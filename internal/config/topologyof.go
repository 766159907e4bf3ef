package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// TopologyOf is the topology file the configuration at path names and
// the line that names it, read leniently (the file need not load): 0
// and "" when it names none or does not parse as YAML.
func TopologyOf(path string) (file string, line int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return "", 0
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return "", 0
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		line := v.Line // an alias's (topology: *t) own line, as the loader's errors say (opsrt43 O4)
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if k.Value == "topology" && v.Kind == yaml.ScalarNode && v.Value != "" {
			c := &Config{Topology: v.Value}
			resolvePaths(c, filepath.Dir(path)) // as Load places it
			return c.Topology, line
		}
	}
	return "", 0
}

// TopologyErrors are the errors of the topology file the configuration
// at path names, each at its file and line: the file that cannot be
// read at the configuration's line, as a loaded configuration's
// unreadable files are said; nil when it names none or the topology
// loads. config check gives them with the errors of a configuration
// that does not load, so that every independent error comes in one run
// (rt33c F9: the topology's were said only once the configuration's
// own were fixed).
func TopologyErrors(path string) Errors {
	file, line := TopologyOf(path)
	if file == "" {
		return nil
	}
	_, err := LoadTopology(file)
	var es Errors
	var pe *fs.PathError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &es):
		return es
	case errors.As(err, &pe):
		return Errors{{File: path, Line: line, Msg: "topology " + ShownPath(file) + ": " + pe.Err.Error()}}
	}
	return Errors{{File: path, Line: line, Msg: "topology " + ShownPath(file) + ": " + err.Error()}}
}
