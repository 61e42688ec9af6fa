package enginetest

import (
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/shipgate/shipgate/pipeline/config"
)

// kebab turns a Go parameter name into the flag dagger makes of it: githubAPI → github-api,
// oidcRequestURL → oidc-request-url, dryRun → dry-run.
func kebab(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// moduleFlags lists every flag the module accepts, from .dagger/main.go.
func moduleFlags(t *testing.T) map[string]bool {
	f := moduleSource(t, token.NewFileSet(), 0)
	flags := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !fn.Name.IsExported() || !(onShipgate(fn) || fn.Name.Name == "New" && fn.Recv == nil) {
			continue
		}
		for _, p := range fn.Type.Params.List {
			for _, n := range p.Names {
				if n.Name != "ctx" {
					flags["--"+kebab(n.Name)] = true
				}
			}
		}
	}
	return flags
}

func TestKebab(t *testing.T) {
	for in, want := range map[string]string{"githubAPI": "github-api", "oidcRequestURL": "oidc-request-url", "plainHTTP": "plain-http", "runID": "run-id", "dryRun": "dry-run", "version": "version", "noSbom": "no-sbom"} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

var flagRE = regexp.MustCompile("--[a-z][a-z-]*[a-z]")

// TestReadmeAndScriptsUseRealFlags keeps the README's function reference, the workflow script and
// the module in step: every flag they pass to dagger call exists, and every flag is documented.
func TestReadmeAndScriptsUseRealFlags(t *testing.T) {
	flags := moduleFlags(t)
	readme, err := os.ReadFile(filepath.Join(moduleDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ref := string(readme)
	i := strings.Index(ref, "## Function reference")
	if i < 0 {
		t.Fatal("README has no Function reference section")
	}
	ref = ref[i:]
	if j := strings.Index(ref[3:], "\n## "); j >= 0 {
		ref = ref[:j+3]
	}
	for _, f := range flagRE.FindAllString(ref, -1) {
		if !flags[f] && f != "--help" {
			t.Errorf("README's function reference names %s, which the module does not have", f)
		}
	}
	for f := range flags {
		if !strings.Contains(ref, f) {
			t.Errorf("module flag %s is missing from the README's function reference", f)
		}
	}
	script, err := os.ReadFile(filepath.Join(moduleDir(t), ".github", "shipgate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, f := range flagRE.FindAllString(line, -1) {
			if !flags[f] && f != "--progress" {
				t.Errorf(".github/shipgate.sh passes %s, which the module does not have: %s", f, strings.TrimSpace(line))
			}
		}
	}
	wfs, err := filepath.Glob(filepath.Join(moduleDir(t), ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, path := range wfs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "shipgate.sh") && !strings.Contains(line, `"$SHIPGATE_SH"`) {
				continue
			}
			calls++
			for _, f := range flagRE.FindAllString(line, -1) {
				if !flags[f] {
					t.Errorf("%s passes %s, which the module does not have", filepath.Base(path), f)
				}
			}
		}
	}
	if calls < 3 {
		t.Fatalf("found %d calls of shipgate.sh in the workflows: the check no longer sees them", calls)
	}
}

// TestModuleDefaultsMatchConfig: defaults are defined once, in pipeline/config. A +default pragma
// in the module is what `--help` shows and what the engine passes when the flag is left out, so
// each must say exactly what config says; a string flag config has a default for must show it.
func TestModuleDefaultsMatchConfig(t *testing.T) {
	m := parseModule(t)
	pragmas := 0
	for _, fn := range m.functions() {
		for _, p := range fn.Type.Params.List {
			for _, n := range p.Names {
				if n.Name == "ctx" {
					continue
				}
				flag := "--" + kebab(n.Name)
				_, pr := m.paramComment(n)
				want, has := config.FlagDefault(flag)
				raw, pragma := pr["default"]
				switch {
				case pragma && !has:
					t.Errorf("%s %s: +default=%s, but pipeline/config defines no default for it (add it there: config.FlagDefault)", fn.Name.Name, flag, raw)
				case pragma:
					pragmas++
					got, err := strconv.Unquote(raw)
					if err != nil {
						t.Errorf("%s %s: +default=%s is not a quoted string: %v", fn.Name.Name, flag, raw, err)
					} else if got != want {
						t.Errorf("%s %s: +default=%q, but pipeline/config's default is %q", fn.Name.Name, flag, got, want)
					}
				case has && isString(p.Type):
					t.Errorf("%s %s has no +default pragma: add +default=%q (config's default), so --help shows it", fn.Name.Name, flag, want)
				}
			}
		}
	}
	if pragmas < 10 {
		t.Fatalf("found %d +default pragmas in .dagger/main.go: the parser is not reading them", pragmas)
	}
}

func isString(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "string"
}
