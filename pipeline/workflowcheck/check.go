// Package workflowcheck is shipgate's own lint for GitHub Actions workflows, run next to
// actionlint. It fails on what makes a release workflow unsafe:
//
//   - a `uses:` that is not pinned to a full commit SHA with its version in a comment;
//   - a value someone else controls expanded by `${{ }}` inside `run:` (script injection), or
//     inside `with:` of an action that executes its inputs (dagger-for-github's call/args,
//     github-script's script): inputs, anything under github.event (also github.event['…'],
//     toJSON(github.event), format('{0}', …) around them), github.head_ref, github.base_ref,
//     github.ref_name, and step or job outputs (steps.*.outputs, needs.*.outputs) — pass them
//     through `env:` and use "$VAR" instead;
//   - `pull_request_target` together with a checkout (or gh/git fetch) of the pull request's head:
//     the untrusted code then runs with the base repository's secrets;
//   - workflow-level permissions other than `{}`, a job without its own `permissions:`;
//   - actions/checkout without `persist-credentials: false`;
//   - a job that can publish, sign, merge or move `latest` — it reads a secret other than
//     GITHUB_TOKEN, or may mint an OIDC token (`id-token: write`) — without an `environment:`
//     (whose deployment-branch rules and reviewers GitHub enforces) and without a job-level `if:`
//     that guards on `github.ref`; a job calling a reusable workflow with secrets needs the guard
//     (the environment is then declared by the called workflow's jobs).
//
// What cannot be checked here — the environments' deployment-branch rules and reviewers — is in
// README "Adopting shipgate in a project". Markdown applies the same checks to the workflow
// examples of a document (the README's callers), and Justfile checks that no recipe pastes a
// typed value into its shell line.
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
	// v8.4.1's action.yml pastes version and commit into its install script and verb into its
	// command line, and runs call, args, shell, check, dagger-flags and module.
	"dagger/dagger-for-github": {"call", "args", "shell", "check", "dagger-flags", "verb", "module", "version", "commit"},
	"actions/github-script":    {"script"},
}

var (
	shaPinRE  = regexp.MustCompile(`^[^@\s]+@[0-9a-f]{40}$`)
	versionRE = regexp.MustCompile(`#\s*v?\d+(\.\d+){0,2}\b`)
	exprRE    = regexp.MustCompile(`(?s)\$\{\{(.*?)\}\}`)
	spaceRE   = regexp.MustCompile(`\s+`)

	// untrusted lists what an expression must not reach inside run: (after whitespace is removed
	// and ['name'] is rewritten to .name). Each names one source of attacker-controlled text.
	untrusted = []*regexp.Regexp{
		regexp.MustCompile(`\binputs\.[A-Za-z0-9_-]+|\binputs\b`),
		regexp.MustCompile(`\bgithub\.event(\.[A-Za-z0-9_*-]+)*(\b|$)`),
		regexp.MustCompile(`\bgithub\.(head_ref|base_ref|ref_name)\b`),
		regexp.MustCompile(`\b(steps|needs)\.[A-Za-z0-9_-]+\.outputs(\.[A-Za-z0-9_-]+)?|\b(steps|needs)\.\*|\b(steps|needs)(\)|$|,)`),
	}
	// bracketRE rewrites x['name'] and x["name"] to x.name, so one pattern covers both.
	bracketRE = regexp.MustCompile(`\[\s*['"]([^'"]*)['"]\s*\]`)

	// ref guard: a job-level if: that compares github.ref (not github.ref_name, which a branch
	// named like a tag can fake).
	refGuardRE = regexp.MustCompile(`\bgithub\.ref\b`)
	secretRE   = regexp.MustCompile(`\bsecrets\.([A-Za-z0-9_]+)|\bsecrets\[\s*['"]([^'"]+)['"]\s*\]`)

	// prHeadRE: what in a checkout's ref/repository, or a run: line, fetches the PR's own code.
	prHeadRE  = regexp.MustCompile(`github\.event\.pull_request\.(head|merge_commit_sha)|github\.head_ref|github\.event\.number|refs/pull/|pull_request\.number`)
	prFetchRE = regexp.MustCompile(`\bgh\s+pr\s+checkout\b|\bgit\s+fetch\b[^\n]*\bpull/`)
)

// Untrusted returns the first value someone else controls that expression expr (the text
// between `${{` and `}}`) reads, or "".
func Untrusted(expr string) string {
	e := spaceRE.ReplaceAllString(expr, "")
	e = bracketRE.ReplaceAllString(e, ".$1")
	// Expressions are case-insensitive: GitHub.Event is github.event.
	e = strings.ToLower(e)
	for _, re := range untrusted {
		if m := re.FindString(e); m != "" {
			return strings.TrimRight(m, "),")
		}
	}
	return ""
}

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
	c.triggers = triggers(Get(wf, "on"))
	if perms := Get(wf, "permissions"); perms == nil {
		c.add(wf.Line, "no workflow-level `permissions: {}`: set it, and grant each job only what it needs")
	} else if !(perms.Kind == yaml.MappingNode && len(perms.Content) == 0) {
		c.add(perms.Line, "workflow-level permissions must be `{}`: grant permissions per job")
	}
	if jobs := Get(wf, "jobs"); jobs != nil && jobs.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(jobs.Content); i += 2 {
			c.job(jobs.Content[i].Value, jobs.Content[i+1])
		}
	} else {
		c.add(wf.Line, "no jobs")
	}
	return c.out, nil
}

// triggers returns the event names of an `on:` node (a string, a list or a mapping).
func triggers(on *yaml.Node) map[string]bool {
	t := map[string]bool{}
	if on == nil {
		return t
	}
	switch on.Kind {
	case yaml.ScalarNode:
		t[on.Value] = true
	case yaml.SequenceNode:
		for _, n := range on.Content {
			t[n.Value] = true
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(on.Content); i += 2 {
			t[on.Content[i].Value] = true
		}
	}
	return t
}

type checker struct {
	file     string
	triggers map[string]bool
	out      []Finding
}

func (c *checker) add(line int, format string, a ...any) {
	c.out = append(c.out, Finding{File: c.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// injection reports each untrusted value expanded by an expression in text.
func (c *checker) injection(line int, text, where, id string) {
	for _, m := range exprRE.FindAllStringSubmatch(text, -1) {
		if u := Untrusted(m[1]); u != "" {
			c.add(line, "job %s: `%s` is expanded inside %s (script injection): pass it through env: and use \"$VAR\"", id, u, where)
		}
	}
}

func (c *checker) job(id string, j *yaml.Node) {
	if Get(j, "permissions") == nil {
		c.add(j.Line, "job %s has no `permissions:`: declare exactly what it needs (e.g. contents: read)", id)
	}
	c.guard(id, j)
	if u := Get(j, "uses"); u != nil {
		c.uses(u)
	}
	steps := Get(j, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return
	}
	for _, s := range steps.Content {
		if run := Get(s, "run"); run != nil {
			c.injection(run.Line, run.Value, "run:", id)
			if c.triggers["pull_request_target"] && prFetchRE.MatchString(run.Value) {
				c.add(run.Line, "job %s: a pull_request_target workflow fetches the pull request's head in run: — its code would run with this repository's secrets and write token: use `pull_request`", id)
			}
		}
		u := Get(s, "uses")
		if u == nil {
			continue
		}
		c.uses(u)
		action := strings.SplitN(u.Value, "@", 2)[0]
		with := Get(s, "with")
		if action == "actions/checkout" {
			if pc := Get(with, "persist-credentials"); pc == nil || pc.Value != "false" {
				c.add(u.Line, "job %s: actions/checkout without `persist-credentials: false` leaves the token in .git/config", id)
			}
			if c.triggers["pull_request_target"] {
				for _, k := range []string{"ref", "repository"} {
					if v := Get(with, k); v != nil && prHeadRE.MatchString(v.Value) {
						c.add(v.Line, "job %s: a pull_request_target workflow checks out the pull request's head (%s: %s) — its code would run with this repository's secrets and write token: use `pull_request`", id, k, v.Value)
					}
				}
			}
		}
		for _, input := range ExecutingInputs[action] {
			if v := Get(with, input); v != nil {
				c.injection(v.Line, v.Value, fmt.Sprintf("%s's `%s` input, which it executes", action, input), id)
			}
		}
	}
}

// guard enforces, for a job that holds release power, an environment and a github.ref guard.
func (c *checker) guard(id string, j *yaml.Node) {
	var why []string
	seen := map[string]bool{}
	walk(j, func(n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			return
		}
		for _, m := range exprRE.FindAllStringSubmatch(n.Value, -1) {
			for _, s := range secretRE.FindAllStringSubmatch(m[1], -1) {
				name := s[1] + s[2]
				if !strings.EqualFold(name, "GITHUB_TOKEN") && !seen[name] {
					seen[name] = true
					why = append(why, "secrets."+name)
				}
			}
		}
	})
	if p := Get(j, "permissions"); p != nil {
		if v := Get(p, "id-token"); v != nil && v.Value == "write" {
			why = append(why, "id-token: write")
		} else if p.Kind == yaml.ScalarNode && p.Value == "write-all" {
			why = append(why, "write-all")
		}
	}
	call := Get(j, "uses") != nil
	if call {
		if s := Get(j, "secrets"); s != nil && !(s.Kind == yaml.MappingNode && len(s.Content) == 0) {
			if s.Kind == yaml.ScalarNode {
				why = append(why, "secrets: "+s.Value)
			} else {
				why = append(why, "secrets passed to a reusable workflow")
			}
		}
	}
	if len(why) == 0 {
		return
	}
	reason := strings.Join(why, ", ")
	if !call {
		if env := Get(j, "environment"); env == nil || scalarOrName(env) == "" {
			c.add(j.Line, "job %s can publish, sign, merge or move latest (%s) but declares no `environment:`: put those secrets in an environment with deployment-branch rules (see README \"Adopting\") and name it here", id, reason)
		}
	}
	if cond := Get(j, "if"); cond == nil || !refGuardRE.MatchString(cond.Value) {
		c.add(j.Line, "job %s can publish, sign, merge or move latest (%s) but has no `if:` guarding on github.ref: run it only from its release ref (e.g. `if: github.ref == format('refs/heads/release/{0}', inputs.version)`)", id, reason)
	}
}

// scalarOrName returns an environment's name: the scalar itself or its `name:` key.
func scalarOrName(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strings.TrimSpace(n.Value)
	}
	if v := Get(n, "name"); v != nil {
		return strings.TrimSpace(v.Value)
	}
	return ""
}

func walk(n *yaml.Node, f func(*yaml.Node)) {
	if n == nil {
		return
	}
	f(n)
	for _, c := range n.Content {
		walk(c, f)
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

// Get returns the value of key in a YAML mapping node (a workflow, a job, a step, its with:), or
// nil when m is not a mapping or has no such key.
func Get(m *yaml.Node, key string) *yaml.Node {
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
