package mailaddr

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestIsPostmaster(t *testing.T) {
	for s, want := range map[string]bool{
		"postmaster": true, "PostMaster": true, "POSTMASTER": true,
		"poſtmaster":  false, // U+017F LONG S: strings.EqualFold takes it
		"postmaster ": false, "postmaste": false, "": false, "postmaster@x": false, "\"postmaster\"": false,
	} {
		if got := IsPostmaster(s); got != want {
			t.Errorf("IsPostmaster(%q) = %v", s, got)
		}
	}
}

// One definition: no package of umbra's compares a local part or a path
// with "postmaster" itself (rcptcheck, delivery and the CLI each once
// kept their own); they ask IsPostmaster.
func TestOnePostmasterDefinition(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, filepath.Join("internal", "mailaddr")) {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && len(stack) > 0 && comparing(stack[len(stack)-1]) {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.EqualFold(strings.Trim(s, "<>"), "postmaster") {
					t.Errorf("%s: compares with %s itself; use mailaddr.IsPostmaster", fset.Position(lit.Pos()), lit.Value)
				}
			}
			stack = append(stack, n)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// comparing: a string literal under n is compared with, not only
// written (a message, a setting's name): an operand of == or !=, an
// argument of a fold or len, an index base, a constant's value.
func comparing(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.BinaryExpr:
		return n.Op == token.EQL || n.Op == token.NEQ
	case *ast.IndexExpr, *ast.ValueSpec, *ast.SliceExpr:
		return true
	case *ast.CallExpr:
		name := ""
		switch f := n.Fun.(type) {
		case *ast.Ident:
			name = f.Name
		case *ast.SelectorExpr:
			name = f.Sel.Name
		}
		return strings.Contains(strings.ToLower(name), "fold") || name == "len" || strings.HasPrefix(name, "Has")
	}
	return false
}
