// Package workflowcheck is shipgate's own lint for GitHub Actions workflows, run next to
// actionlint. It fails on what makes a release workflow unsafe:
//
//   - a `uses:` that is not pinned to a full commit SHA with its version in a comment;
//   - `${{ inputs.* }}`, `${{ github.event.* }}` or `${{ github.head_ref }}` expanded inside
//     `run:` (script injection), or inside `with:` of an action that executes its inputs
//     (dagger-for-github's call/args, github-script's script) — pass them through `env:` instead;
//   - workflow-level permissions other than `{}`, a job without its own `permissions:`;
//   - actions/checkout without `persist-credentials: false`.
package workflowcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Finding is one problem, with its place.
type Finding struct {
	File string
	Line int
	Msg  string
}

func (f Finding) String() string { return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Msg) }

// ExecutingInputs lists, per action, the inputs it pastes into a shell or evaluates as code.
var ExecutingInputs = map[string][]string{
	"dagger/dagger-for-github": {"call", "args", "dagger-flags", "verb", "module"},
	"actions/github-script":    {"script"},
}

var (
	shaPinRE    = regexp.MustCompile(`^[^@\s]+@[0-9a-f]{40}$`)
	versionRE   = regexp.MustCompile(`#\s*v?\d+(\.\d+){0,2}\b`)
	untrustedRE = regexp.MustCompile(`\$\{\{[^}]*\b(inputs\.[A-Za-z0-9_-]+|github\.event\.[A-Za-z0-9_.\[\]'*-]+|github\.head_ref)\b[^}]*\}\}`)
)

// Dir checks every .yml/.yaml file in dir.
func Dir(dir string) ([]Finding, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no workflow files in %s", dir)
	}
	var all []Finding
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		fs, err := File(f, b)
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	return all, nil
}

// File checks one workflow's content; name is used in findings.
func File(name string, content []byte) ([]Finding, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(content, &root); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %v", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty workflow", name)
	}
	c := &checker{file: name}
	wf := root.Content[0]
	if perms := get(wf, "permissions"); perms == nil {
		c.add(wf.Line, "no workflow-level `permissions: {}`: set it, and grant each job only what it needs")
	} else if !(perms.Kind == yaml.MappingNode && len(perms.Content) == 0) {
		c.add(perms.Line, "workflow-level permissions must be `{}`: grant permissions per job")
	}
	if jobs := get(wf, "jobs"); jobs != nil && jobs.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(jobs.Content); i += 2 {
			c.job(jobs.Content[i].Value, jobs.Content[i+1])
		}
	} else {
		c.add(wf.Line, "no jobs")
	}
	return c.out, nil
}

type checker struct {
	file string
	out  []Finding
}

func (c *checker) add(line int, format string, a ...any) {
	c.out = append(c.out, Finding{File: c.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) job(id string, j *yaml.Node) {
	if get(j, "permissions") == nil {
		c.add(j.Line, "job %s has no `permissions:`: declare exactly what it needs (e.g. contents: read)", id)
	}
	if u := get(j, "uses"); u != nil {
		c.uses(u)
	}
	steps := get(j, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return
	}
	for _, s := range steps.Content {
		if run := get(s, "run"); run != nil {
			for _, m := range untrustedRE.FindAllStringSubmatch(run.Value, -1) {
				c.add(run.Line, "job %s: `%s` is expanded inside run: (script injection): pass it through env: and use \"$VAR\"", id, m[1])
			}
		}
		u := get(s, "uses")
		if u == nil {
			continue
		}
		c.uses(u)
		action := strings.SplitN(u.Value, "@", 2)[0]
		with := get(s, "with")
		if action == "actions/checkout" {
			if pc := get(with, "persist-credentials"); pc == nil || pc.Value != "false" {
				c.add(u.Line, "job %s: actions/checkout without `persist-credentials: false` leaves the token in .git/config", id)
			}
		}
		for _, input := range ExecutingInputs[action] {
			if v := get(with, input); v != nil {
				for _, m := range untrustedRE.FindAllStringSubmatch(v.Value, -1) {
					c.add(v.Line, "job %s: `%s` is expanded inside %s's `%s` input, which it executes: pass it through env: and a run: step", id, m[1], action, input)
				}
			}
		}
	}
}

func (c *checker) uses(u *yaml.Node) {
	v := u.Value
	if strings.HasPrefix(v, "./") || strings.HasPrefix(v, "docker://") && strings.Contains(v, "@sha256:") {
		return
	}
	if !shaPinRE.MatchString(v) {
		c.add(u.Line, "`uses: %s` is not pinned to a full commit SHA: write owner/repo@<40-hex sha> # vX.Y.Z", v)
		return
	}
	if !versionRE.MatchString(u.LineComment) {
		c.add(u.Line, "`uses: %s` has no version comment: add `# vX.Y.Z` so updates can be reviewed", v)
	}
}

// get returns the value of key in a mapping node, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
