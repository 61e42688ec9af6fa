package enginetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// module is .dagger/main.go, parsed with its comments.
type module struct {
	fset *token.FileSet
	file *ast.File
}

func parseModule(t *testing.T) module {
	t.Helper()
	fset := token.NewFileSet()
	return module{fset: fset, file: moduleSource(t, fset, parser.ParseComments)}
}

// moduleSource parses every hand-written .go file of the module's main package (.dagger/*.go but
// the generated dagger.gen.go) into one file: the Go SDK takes functions from all of them.
func moduleSource(t *testing.T, fset *token.FileSet, mode parser.Mode) *ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(moduleDir(t), ".dagger", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	all := &ast.File{Name: ast.NewIdent("main")}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") || filepath.Base(p) == "dagger.gen.go" {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		all.Decls = append(all.Decls, f.Decls...)
		all.Comments = append(all.Comments, f.Comments...)
	}
	return all
}

// functions are the constructor and the exported methods: what `dagger functions` lists.
func (m module) functions() []*ast.FuncDecl {
	var out []*ast.FuncDecl
	for _, d := range m.file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if ok && fn.Name.IsExported() && (onShipgate(fn) || fn.Name.Name == "New" && fn.Recv == nil) {
			out = append(out, fn)
		}
	}
	return out
}

// onShipgate reports a method of the main object, *Shipgate: what the module exposes (methods of
// other types, like the engine builder, are not functions of the module).
func onShipgate(fn *ast.FuncDecl) bool {
	if fn.Recv == nil || len(fn.Recv.List) != 1 {
		return false
	}
	t := fn.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.Name == "Shipgate"
}

// mainObject is the type the constructor returns (*Shipgate), and its declaration.
func (m module) mainObject(t *testing.T) (*ast.GenDecl, *ast.TypeSpec, *ast.StructType) {
	t.Helper()
	for _, d := range m.file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, sp := range gd.Specs {
			ts := sp.(*ast.TypeSpec)
			if st, ok := ts.Type.(*ast.StructType); ok && ts.Name.Name == "Shipgate" {
				return gd, ts, st
			}
		}
	}
	t.Fatal(".dagger/main.go declares no Shipgate struct")
	return nil, nil, nil
}

// paramComment is the comment right above a parameter: its text lines and its pragmas (+name=value).
func (m module) paramComment(n *ast.Ident) (text []string, pragmas map[string]string) {
	pragmas = map[string]string{}
	line := m.fset.Position(n.Pos()).Line
	for _, cg := range m.file.Comments {
		if m.fset.Position(cg.End()).Line != line-1 {
			continue
		}
		for _, c := range cg.List {
			l := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
			if p, ok := strings.CutPrefix(l, "+"); ok {
				k, v, _ := strings.Cut(p, "=")
				pragmas[k] = v
			} else if l != "" {
				text = append(text, l)
			}
		}
	}
	return text, pragmas
}

// firstLine is the first line of a doc comment: all the CLI shows of it.
func firstLine(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	l, _, _ := strings.Cut(strings.TrimSpace(cg.Text()), "\n")
	return strings.TrimSpace(l)
}

// endsSentence reports whether a line reads as a whole sentence: a capital first, a full stop (or
// ! or ?) last, and not an abbreviation that only looks like an end.
func endsSentence(l string) bool {
	if l == "" || strings.ToUpper(l[:1]) != l[:1] {
		return false
	}
	for _, abbr := range []string{"e.g.", "i.e.", "vs.", "cf."} {
		if strings.HasSuffix(l, abbr) {
			return false
		}
	}
	return strings.HasSuffix(l, ".") || strings.HasSuffix(l, "!") || strings.HasSuffix(l, "?")
}

func TestEndsSentence(t *testing.T) {
	for l, want := range map[string]bool{
		"Publish is phase 1: it builds X.Y.Z.":                true,
		"Publish is phase 1: finalize the CHANGELOG, build a": false,
		"an OCI registry, a":                                  false,
		"It takes a registry, e.g.":                           false,
		"lower case start.":                                   false,
		"":                                                    false,
	} {
		if got := endsSentence(l); got != want {
			t.Errorf("endsSentence(%q) = %v", l, got)
		}
	}
}

// TestEveryFunctionAndArgumentIsDocumented reads the module's source: the doc comments of the
// constructor, every function and every argument are `dagger functions` / `--help` text, the CLI
// shows only the first line of a function's comment (so it must be a whole sentence), and every
// function but the demo changes something, so it must not be cached.
func TestEveryFunctionAndArgumentIsDocumented(t *testing.T) {
	m := parseModule(t)
	funcs := m.functions()
	for _, fn := range funcs {
		name := fn.Name.Name
		if fn.Doc == nil || len(strings.TrimSpace(fn.Doc.Text())) < 20 {
			t.Errorf("%s has no doc comment", name)
			continue
		}
		if l := firstLine(fn.Doc); !endsSentence(l) {
			t.Errorf("%s: the first line of its doc comment is all `dagger functions` shows, and it is not a whole sentence: %q", name, l)
		}
		if fn.Recv != nil && !strings.Contains(fn.Doc.Text(), `+cache="never"`) {
			t.Errorf("%s is not +cache=\"never\": results would be replayed from the cache", name)
		}
		// Each parameter but ctx needs a comment on the line(s) right above it.
		for _, p := range fn.Type.Params.List {
			for _, n := range p.Names {
				if n.Name == "ctx" {
					continue
				}
				if text, _ := m.paramComment(n); len(text) == 0 {
					t.Errorf("%s: argument %s has no doc comment", name, n.Name)
				}
			}
		}
	}
	if len(funcs) < 10 {
		t.Fatalf("found %d functions in .dagger, want the constructor and 9 functions", len(funcs))
	}
}

// TestMainObjectFieldsArePrivate: the Go SDK turns every exported field of the main object into a
// function of the module (a real engine listed 37 undocumented ones beside the 8 real functions,
// getters for the secrets among them). Each must be +private, and documented for the reader.
func TestMainObjectFieldsArePrivate(t *testing.T) {
	m := parseModule(t)
	gd, ts, st := m.mainObject(t)
	doc := ts.Doc
	if doc == nil {
		doc = gd.Doc
	}
	if l := firstLine(doc); !endsSentence(l) {
		t.Errorf("the doc comment of %s must start with a whole sentence: %q", ts.Name.Name, l)
	}
	fields := 0
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if !n.IsExported() {
				continue
			}
			fields++
			private, documented := false, false
			if f.Doc != nil {
				for _, c := range f.Doc.List {
					l := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
					switch {
					case l == "+private":
						private = true
					case l != "" && !strings.HasPrefix(l, "+"):
						documented = true
					}
				}
			}
			if !private {
				t.Errorf("field %s.%s is exported without // +private: `dagger functions` would list it as an undocumented function", ts.Name.Name, n.Name)
			}
			if !documented {
				t.Errorf("field %s.%s has no doc comment", ts.Name.Name, n.Name)
			}
		}
	}
	if fields == 0 {
		t.Fatalf("%s has no exported fields: the module's state would not survive between calls", ts.Name.Name)
	}
}

// TestReadmeEngineTestCommand: the README's command runs the engine test for real — not a cached
// pass (-count=1) — and fails where no engine is reachable (SHIPGATE_REQUIRE_ENGINE=1); it says the
// test needs cosign.
func TestReadmeEngineTestCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, section, ok := strings.Cut(readme, "### Engine-backed tests")
	if !ok {
		t.Fatal("README has no Engine-backed tests section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, want := range []string{"SHIPGATE_REQUIRE_ENGINE=1 go test -count=1 -v ./pipeline/enginetest", "SHIPGATE_COSIGN"} {
		if !strings.Contains(section, want) {
			t.Errorf("the README's engine-test section lacks %q", want)
		}
	}
}
