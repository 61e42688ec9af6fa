package enginetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryFunctionAndArgumentIsDocumented reads the module's source: the doc comments of the
// constructor, every function and every argument are `dagger functions` / `--help` text, and
// every function but the demo changes something, so it must not be cached.
func TestEveryFunctionAndArgumentIsDocumented(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(moduleDir(t), ".dagger", "main.go"), nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	funcs := 0
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !fn.Name.IsExported() {
			continue
		}
		isMethod := fn.Recv != nil
		if !isMethod && fn.Name.Name != "New" {
			continue
		}
		funcs++
		if fn.Doc == nil || len(strings.TrimSpace(fn.Doc.Text())) < 20 {
			t.Errorf("%s has no doc comment", fn.Name.Name)
		}
		if isMethod && !strings.Contains(fn.Doc.Text(), `+cache="never"`) {
			t.Errorf("%s is not +cache=\"never\": results would be replayed from the cache", fn.Name.Name)
		}
		// Each parameter but ctx needs a comment on the line(s) right above it.
		for _, p := range fn.Type.Params.List {
			for _, n := range p.Names {
				if n.Name == "ctx" {
					continue
				}
				line := fset.Position(n.Pos()).Line
				documented := false
				for _, cg := range f.Comments {
					if end := fset.Position(cg.End()).Line; end == line-1 {
						for _, c := range cg.List {
							if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(c.Text, "//")), "+") {
								documented = true
							}
						}
					}
				}
				if !documented {
					t.Errorf("%s: argument %s has no doc comment", fn.Name.Name, n.Name)
				}
			}
		}
	}
	if funcs < 9 {
		t.Fatalf("found %d functions in .dagger/main.go, want the constructor and 8 functions", funcs)
	}
}
