package adopt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/workflowcheck"
)

const (
	sampleCommit = "0123456789abcdef0123456789abcdef01234567"
	sampleModule = "github.com/shipgate/shipgate@" + sampleCommit
)

// sample is a project adopting shipgate v1.0.0.
func sample() Options {
	return Options{Repo: "Acme/App", ModuleRef: sampleModule, ModuleVersion: "v1.0.0"}
}

func render(t *testing.T, o Options) map[string]string {
	t.Helper()
	files, err := Render(o)
	if err != nil {
		t.Fatalf("Render(%+v): %v", o, err)
	}
	out := map[string]string{}
	for _, f := range files {
		if _, dup := out[f.Path]; dup {
			t.Fatalf("%s rendered twice", f.Path)
		}
		out[f.Path] = f.Content
	}
	return out
}

// write puts the rendered files into dir, as `dagger call init ... export --path dir` would.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRenderSampleProject: the files of a sample project carry its repository, its image
// (defaulted from the repository, lower-cased) and the module pinned to the commit, with the
// release in a comment next to every pin; the CHANGELOG skeleton comes only when asked.
func TestRenderSampleProject(t *testing.T) {
	files := render(t, sample())
	want := []string{PublishWorkflow, PromoteWorkflow, PrepareWorkflow, Justfile}
	if len(files) != len(want) {
		t.Fatalf("rendered %d files, want %v", len(files), want)
	}
	for _, p := range want {
		c, ok := files[p]
		if !ok {
			t.Fatalf("%s not rendered", p)
		}
		for _, s := range []string{"Acme/App", sampleModule, "v1.0.0"} {
			if !strings.Contains(c, s) {
				t.Errorf("%s does not mention %q:\n%s", p, s, c)
			}
		}
	}
	for p, uses := range map[string]string{
		PublishWorkflow: "uses: shipgate/shipgate/.github/workflows/shipgate-publish.yml@" + sampleCommit + " # v1.0.0\n",
		PromoteWorkflow: "uses: shipgate/shipgate/.github/workflows/shipgate-promote.yml@" + sampleCommit + " # v1.0.0\n",
		PrepareWorkflow: "uses: shipgate/shipgate/.github/workflows/shipgate-prepare.yml@" + sampleCommit + " # v1.0.0\n",
	} {
		for _, s := range []string{uses, "      module: " + sampleModule + "\n", "      image: ghcr.io/acme/app\n", "    secrets: inherit\n"} {
			if !strings.Contains(files[p], s) {
				t.Errorf("%s lacks %q:\n%s", p, s, files[p])
			}
		}
	}
	for _, p := range []string{PublishWorkflow, PromoteWorkflow} {
		if !strings.Contains(files[p], "      sign: keyless\n") {
			t.Errorf("%s does not sign keyless by default", p)
		}
	}
	jf := files[Justfile]
	for _, s := range []string{
		`export SHIPGATE_MODULE := env_var_or_default("SHIPGATE_MODULE", "` + sampleModule + `")`,
		`export SHIPGATE_REPO := "Acme/App"`,
		`export SHIPGATE_IMAGE := env_var_or_default("IMAGE", "ghcr.io/acme/app")`,
		`export SHIPGATE_WORKFLOW := "shipgate/shipgate/.github/workflows/shipgate-publish.yml"`,
	} {
		if !strings.Contains(jf, s) {
			t.Errorf("justfile lacks %q", s)
		}
	}
	// Nothing of this repository's tooling: no go, no .ci, no shipgate.sh.
	for _, s := range []string{"go run", ".ci/", "shipgate.sh", "justfile_directory"} {
		if strings.Contains(jf, s) {
			t.Errorf("justfile needs %q, which an adopter's checkout does not have", s)
		}
	}

	o := sample()
	o.Image, o.Sign, o.Changelog = "registry.example.com/team/app", "key", true
	o.ModuleRef = "github.com/acme-forks/shipgate@" + strings.ToUpper(sampleCommit)
	files = render(t, o)
	if !strings.Contains(files[PublishWorkflow], "uses: acme-forks/shipgate/.github/workflows/shipgate-publish.yml@"+sampleCommit+" # v1.0.0") {
		t.Errorf("a fork's module, upper-case commit: %s", files[PublishWorkflow])
	}
	for _, p := range []string{PublishWorkflow, PromoteWorkflow} {
		if !strings.Contains(files[p], "      sign: key\n") || !strings.Contains(files[p], "      image: registry.example.com/team/app\n") {
			t.Errorf("%s ignores --sign or --image:\n%s", p, files[p])
		}
	}
	cl, ok := files[Changelog]
	if !ok {
		t.Fatal("--with-changelog wrote no CHANGELOG.md")
	}
	// The skeleton is one shipgate's prepare accepts: it opens 1.0.0 from the Unreleased section.
	opened, changed, err := changelog.Prepare([]byte(cl), version.MustParse("1.0.0"))
	if err != nil || !changed || !strings.Contains(string(opened), "## [1.0.0] - TBD") || !strings.Contains(string(opened), "## [Unreleased]") {
		t.Errorf("changelog.Prepare on the skeleton: changed=%v err=%v\n%s", changed, err, opened)
	}
}

// TestRenderRefusesBadInput: every invalid argument is refused before any file exists, as bad
// input, with a message that names the flag to fix; several problems are reported together.
func TestRenderRefusesBadInput(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(*Options)
		want []string
	}{
		"no repo":            {func(o *Options) { o.Repo = "" }, []string{"--repo is required"}},
		"repo without owner": {func(o *Options) { o.Repo = "app" }, []string{"--repo:", "not owner/name"}},
		"repo with a path":   {func(o *Options) { o.Repo = "acme/app/x" }, []string{"--repo:"}},
		"repo injection":     {func(o *Options) { o.Repo = `acme/app"; touch x; "` }, []string{"--repo:"}},
		"repo dotdot":        {func(o *Options) { o.Repo = "acme/.." }, []string{"--repo:"}},
		"image with tag":     {func(o *Options) { o.Image = "ghcr.io/acme/app:latest" }, []string{"--image:", "has a tag"}},
		"image upper case":   {func(o *Options) { o.Image = "ghcr.io/Acme/app" }, []string{"--image:"}},
		"no module":          {func(o *Options) { o.ModuleRef = "" }, []string{"--module-ref is required"}},
		"module @main":       {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate@main" }, []string{"--module-ref:", `pinned to "main"`, "40-hex commit"}},
		"module @tag":        {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate@v1.0.0" }, []string{"--module-ref:", "40-hex commit"}},
		"module short sha":   {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate@0123456" }, []string{"--module-ref:"}},
		"module unpinned":    {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate" }, []string{"--module-ref:", "is not pinned"}},
		"module empty ref":   {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate@" }, []string{"--module-ref:", "is not pinned"}},
		"module other host":  {func(o *Options) { o.ModuleRef = "gitlab.com/shipgate/shipgate@" + sampleCommit }, []string{"--module-ref:", "github.com"}},
		"module subdir":      {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate/sub@" + sampleCommit }, []string{"--module-ref:", "OWNER/NAME"}},
		"module .git":        {func(o *Options) { o.ModuleRef = "github.com/shipgate/shipgate.git@" + sampleCommit }, []string{"--module-ref:", "without .git"}},
		"module newline":     {func(o *Options) { o.ModuleRef = sampleModule + "\nscript=/tmp/evil" }, []string{"--module-ref:"}},
		"module quote":       {func(o *Options) { o.ModuleRef = `github.com/shipgate/ship"gate@` + sampleCommit }, []string{"--module-ref:"}},
		"no module version":  {func(o *Options) { o.ModuleVersion = "" }, []string{"--module-version is required"}},
		"module version":     {func(o *Options) { o.ModuleVersion = "latest" }, []string{"--module-version:"}},
		"sign":               {func(o *Options) { o.Sign = "gpg" }, []string{"--sign", "keyless, key, none"}},
		"all at once": {func(o *Options) { o.Repo, o.ModuleRef, o.ModuleVersion = "x", "github.com/shipgate/shipgate@main", "1" },
			[]string{"--repo:", "--module-ref:", "--module-version:"}},
	} {
		o := sample()
		c.edit(&o)
		files, err := Render(o)
		if err == nil {
			t.Errorf("%s: accepted, rendered %d files", name, len(files))
			continue
		}
		if files != nil {
			t.Errorf("%s: files returned with the error", name)
		}
		if !errors.Is(err, fault.ErrBadInput) {
			t.Errorf("%s: error is %v, not bad input", name, fault.Of(err))
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not say %q:\n%v", name, w, err)
			}
		}
	}
}

// TestRenderedFilesPassWorkflowcheck: the rendered workflows pass shipgate's own workflow lint
// (pins with version comments, permissions, ref guards, no injection) and the justfile passes its
// check (no argument pasted into a shell line), in every signing mode.
func TestRenderedFilesPassWorkflowcheck(t *testing.T) {
	for _, sign := range []string{"", "keyless", "key", "none"} {
		o := sample()
		o.Sign = sign
		files := render(t, o)
		for _, p := range []string{PublishWorkflow, PromoteWorkflow, PrepareWorkflow} {
			fs, err := workflowcheck.File(p, []byte(files[p]))
			if err != nil {
				t.Fatalf("sign %q: %s: %v", sign, p, err)
			}
			for _, f := range fs {
				t.Errorf("sign %q: %s", sign, f)
			}
		}
		for _, f := range workflowcheck.Justfile(Justfile, []byte(files[Justfile])) {
			t.Errorf("sign %q: %s", sign, f)
		}
	}
	// The checks do see these files: an unpinned uses: and a pasted argument are caught.
	files := render(t, sample())
	bad := strings.Replace(files[PublishWorkflow], "@"+sampleCommit, "@main", 1)
	if fs, _ := workflowcheck.File(PublishWorkflow, []byte(bad)); len(fs) == 0 {
		t.Error("workflowcheck passed a publish caller pinned to @main")
	}
	bad = strings.Replace(files[Justfile], `fn_args=(--version "$version")`, `fn_args=(--version {{VERSION}})`, 1)
	if fs := workflowcheck.Justfile(Justfile, []byte(bad)); len(fs) == 0 {
		t.Error("workflowcheck passed a justfile that pastes VERSION")
	}
}

// TestRenderedWorkflowsMatchReadme: each rendered caller has the shape of README's example for its
// phase (trigger, guard, permissions, the reusable workflow, secrets, every input), so the two
// cannot drift apart.
func TestRenderedWorkflowsMatchReadme(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := map[string]*yaml.Node{}
	for _, b := range workflowcheck.MarkdownWorkflows(doc) {
		wf := parseYAML(t, b.Text)
		if n := get(wf, "name"); n != nil {
			examples[n.Value] = wf
		}
	}
	files := render(t, sample())
	for p, name := range map[string]string{PublishWorkflow: "release", PromoteWorkflow: "promote-release", PrepareWorkflow: "prepare-release"} {
		ex := examples[name]
		if ex == nil {
			t.Errorf("README has no caller example named %s", name)
			continue
		}
		got := parseYAML(t, files[p])
		if a, b := dump(t, get(got, "on")), dump(t, get(ex, "on")); a != b {
			t.Errorf("%s: on: differs from README's\n%s\nvs\n%s", p, a, b)
		}
		gj, ej := get(got, "jobs"), get(ex, "jobs")
		if len(gj.Content) != 2 || len(ej.Content) != 2 || gj.Content[0].Value != ej.Content[0].Value {
			t.Fatalf("%s: jobs differ from README's", p)
		}
		g, e := gj.Content[1], ej.Content[1]
		for _, k := range []string{"if", "permissions", "secrets"} {
			if a, b := dump(t, get(g, k)), dump(t, get(e, k)); a != b {
				t.Errorf("%s: %s differs from README's: %s vs %s", p, k, a, b)
			}
		}
		gu, _, _ := strings.Cut(get(g, "uses").Value, "@")
		eu, _, _ := strings.Cut(get(e, "uses").Value, "@")
		if gu != eu {
			t.Errorf("%s: uses %s, README %s", p, gu, eu)
		}
		ew, gw := get(e, "with"), get(g, "with")
		for i := 0; i+1 < len(ew.Content); i += 2 {
			k := ew.Content[i].Value
			v := get(gw, k)
			switch {
			case v == nil:
				t.Errorf("%s: input %s of README's example is missing", p, k)
			case k != "module" && v.Value != ew.Content[i+1].Value:
				t.Errorf("%s: input %s is %q, README's %q", p, k, v.Value, ew.Content[i+1].Value)
			}
		}
	}
}

func parseYAML(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(s), &root); err != nil || len(root.Content) == 0 {
		t.Fatalf("not YAML (%v):\n%s", err, s)
	}
	return root.Content[0]
}

func dump(t *testing.T, n *yaml.Node) string {
	t.Helper()
	if n == nil {
		return "<none>"
	}
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get reads key of a YAML mapping, as workflowcheck's checks do.
var get = workflowcheck.Get

// TestRenderedWorkflowsPassActionlint runs actionlint (SHIPGATE_ACTIONLINT, set by `bash .ci/setup
// --env`) over the rendered workflows. Without it the test skips, unless
// SHIPGATE_REQUIRE_ACTIONLINT=1, which makes a missing actionlint a failure.
func TestRenderedWorkflowsPassActionlint(t *testing.T) {
	bin := os.Getenv("SHIPGATE_ACTIONLINT")
	if bin == "" {
		testkit.Missing(t, "SHIPGATE_REQUIRE_ACTIONLINT", "SHIPGATE_ACTIONLINT is not set: eval \"$(bash .ci/setup --env)\"")
	}
	for _, sign := range []string{"keyless", "key"} {
		o := sample()
		o.Sign, o.Changelog = sign, true
		dir := t.TempDir()
		write(t, dir, render(t, o))
		var paths []string
		for _, p := range []string{PublishWorkflow, PromoteWorkflow, PrepareWorkflow} {
			paths = append(paths, filepath.Join(dir, filepath.FromSlash(p)))
		}
		cmd := exec.Command(bin, paths...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sign %s: actionlint: %v\n%s", sign, err, b)
		}
	}
	// actionlint does read them: a misspelt input is caught.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	wf := strings.Replace(render(t, sample())[PublishWorkflow], "${{ inputs.version }}", "${{ inputs.versio }}", 1)
	if err := os.WriteFile(bad, []byte(wf), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, bad).CombinedOutput(); err == nil || !strings.Contains(string(b), "versio") {
		t.Errorf("actionlint passed a caller reading an undefined input: %v\n%s", err, b)
	}
}
