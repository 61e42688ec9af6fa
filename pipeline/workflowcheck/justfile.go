package workflowcheck

import (
	"regexp"
	"strings"
)

var (
	justAssignRE = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*:=\s*(.*)$`)
	justRecipeRE = regexp.MustCompile(`^@?([A-Za-z_][A-Za-z0-9_-]*)((?:\s+[^:=\s][^:]*?)?)\s*:(?:[^=]|$)`)
	justInterpRE = regexp.MustCompile(`\{\{(.*?)\}\}`)
	justIdentRE  = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_-]*`)
	justStringRE = regexp.MustCompile(`'[^']*'|"(?:[^"\\]|\\.)*"`)
	justEnvRE    = regexp.MustCompile(`\benv(_var(_or_default)?)?\s*\(`)
)

// Justfile checks a justfile for the one way a typed value reaches a shell unquoted: a recipe
// parameter (or a variable read from the environment) interpolated with {{ }} into a recipe body.
// Recipes should `set positional-arguments` and use "$1", or wrap the value in quote().
func Justfile(name string, content []byte) []Finding {
	c := &checker{file: name}
	lines := strings.Split(string(content), "\n")
	tainted := map[string]bool{}
	for _, l := range lines {
		if m := justAssignRE.FindStringSubmatch(l); m != nil && justEnvRE.MatchString(justStringRE.ReplaceAllString(m[2], "")) && !strings.HasPrefix(strings.TrimSpace(m[2]), "quote(") {
			tainted[m[1]] = true
		}
	}
	var params map[string]bool
	recipe := ""
	for i, l := range lines {
		if l == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			recipe, params = "", nil
			if strings.HasPrefix(l, "[") || justAssignRE.MatchString(l) || strings.HasPrefix(l, "set ") || strings.HasPrefix(l, "import ") || strings.HasPrefix(l, "mod ") {
				continue
			}
			if m := justRecipeRE.FindStringSubmatch(l); m != nil {
				recipe, params = m[1], map[string]bool{}
				for _, p := range strings.Fields(m[2]) {
					p = strings.TrimLeft(p, "+*$")
					p, _, _ = strings.Cut(p, "=")
					params[p] = true
				}
			}
			continue
		}
		if recipe == "" {
			continue
		}
		for _, m := range justInterpRE.FindAllStringSubmatch(l, -1) {
			expr := strings.TrimSpace(m[1])
			if strings.HasPrefix(expr, "quote(") && strings.HasSuffix(expr, ")") {
				continue
			}
			for _, id := range justIdentRE.FindAllString(expr, -1) {
				if params[id] || tainted[id] {
					c.add(i+1, "recipe %s pastes `{{%s}}` into its shell line: a value like `1.0.0; touch x` would run; `set positional-arguments` and use \"$1\" (or quote(%s))", recipe, m[1], id)
					break
				}
			}
		}
	}
	return c.out
}
