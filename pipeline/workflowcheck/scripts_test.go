package workflowcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shipgate/shipgate/pipeline/testkit"
)

const repoRoot = "../.."

// TestJustfileStaticCheck: the justfile check flags a parameter or an environment-derived variable
// pasted with {{ }}, and accepts "$1" and quote().
func TestJustfileStaticCheck(t *testing.T) {
	base := "set positional-arguments\nexport FUZZ := env_var_or_default(\"FUZZ\", \"1x\")\nroot := quote(justfile_directory())\ntools := 'x=\"$(bash .ci/setup --env)\";'\n\n# doc {{ VERSION }}\n[no-cd]\nrelease VERSION: (_version VERSION)\n    @echo \"$1\"\n    bash {{root}}/s.sh {{tools}} --version \"$1\"\n\n_version VERSION:\n    @true\n"
	if fs := Justfile("justfile", []byte(base)); len(fs) != 0 {
		t.Fatalf("safe justfile flagged: %v", fs)
	}
	for name, c := range map[string][2]string{
		"parameter":               {`@echo "$1"`, `@echo {{VERSION}}`},
		"parameter with spaces":   {`@echo "$1"`, `@echo "{{ VERSION }}"`},
		"parameter in expression": {`@echo "$1"`, `gh workflow run x -f v={{ "v" + VERSION }}`},
		"environment variable":    {`@echo "$1"`, `go test -fuzztime {{FUZZ}}`},
		"second recipe":           {"    @true\n", "    @go run ./cmd/version {{VERSION}}\n"},
		"default parameter":       {"_version VERSION:\n    @true", "demo format=\"text\":\n    go run ./demo -format {{format}}"},
	} {
		bad := seeded(t, base, seed{name: name, from: c[0], to: c[1]})
		if fs := Justfile("justfile", []byte(bad)); len(fs) != 1 || !strings.Contains(fs[0].Msg, "pastes") {
			t.Errorf("%s: findings %v", name, fs)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "justfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Justfile("justfile", b) {
		t.Errorf("%s", f)
	}
}

// TestJustfileNeverRunsAnArgument (issue 11 item 10) runs every recipe that takes an argument with
// values that would run a command if they were pasted into the shell, and checks the command never
// ran. `demo` only compiles and runs the demo with "$1" as its -format; the static check covers it.
func TestJustfileNeverRunsAnArgument(t *testing.T) {
	just := testkit.Just(t)
	justfile, _ := filepath.Abs(filepath.Join(repoRoot, "justfile"))
	out, err := exec.Command(just, "--justfile", justfile, "--dump", "--dump-format", "json").Output()
	if err != nil {
		t.Fatalf("just --dump: %v", err)
	}
	var dump struct {
		Recipes map[string]struct {
			Parameters []struct{ Name string } `json:"parameters"`
		} `json:"recipes"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatal(err)
	}
	var recipes []string
	for name, r := range dump.Recipes {
		if len(r.Parameters) > 0 && name != "demo" {
			recipes = append(recipes, name)
		}
	}
	sort.Strings(recipes)
	if len(recipes) < 8 {
		t.Fatalf("only %d recipes with arguments: %v", len(recipes), recipes)
	}
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	payloads := testkit.InjectionPayloads(pwned)
	// Every payload through the checks every release recipe starts with (_version, _need), one
	// through each recipe (`just` starts in about a second here; the static check covers bodies).
	for _, recipe := range recipes {
		ps := payloads[:1]
		if strings.HasPrefix(recipe, "_") {
			ps = payloads
		}
		for _, p := range ps {
			args := []string{"--justfile", justfile, recipe, p}
			if len(dump.Recipes[recipe].Parameters) == 2 {
				args = append(args, p)
			}
			cmd := exec.Command(just, args...)
			cmd.Dir = dir
			// No gh or dagger, and no settings: nothing may be dispatched even if validation let it by.
			cmd.Env = []string{"PATH=" + filepath.Dir(just) + ":/usr/bin:/bin", "HOME=" + dir}
			b, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("just %s %q succeeded:\n%s", recipe, p, b)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatalf("just %s %q ran the injected command:\n%s", recipe, p, b)
			}
		}
	}
	// A well-formed version passes the check; malformed ones are refused with the reason.
	for v, ok := range map[string]bool{"1.4.0-rc.1": true, "01.4.0": false, "v1.4": false, strings.Repeat("1", 70) + ".0.0": false} {
		cmd := exec.Command(just, "--justfile", justfile, "_version", v)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		if (err == nil) != ok {
			t.Errorf("just _version %q: err=%v\n%s", v, err, b)
		}
		if !ok && !strings.Contains(string(b), "is not X.Y.Z") {
			t.Errorf("just _version %q: no reason: %s", v, b)
		}
	}
}

// TestReadmeWorkflowsPass: the workflow examples in README (the callers adopters copy, the smoke
// test receiver) pass the same check as .github/workflows, and there is one caller per phase.
func TestReadmeWorkflowsPass(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := MarkdownWorkflows(doc)
	for _, want := range []string{"shipgate-publish.yml@", "shipgate-promote.yml@", "shipgate-prepare.yml@", "repository_dispatch"} {
		found := false
		for _, b := range blocks {
			if strings.Contains(b.Text, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("README has no workflow example with %q", want)
		}
	}
	fs, err := Markdown("README.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("%s", f)
	}
	// A seeded bad example is caught, at its README line.
	bad := []byte("intro\n\n```yaml\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.head_ref }}\n```\n")
	fs, _ = Markdown("README.md", bad)
	if len(fs) != 2 || fs[1].Line != 10 && fs[0].Line != 10 {
		t.Errorf("seeded README block: %v", fs)
	}
}

// shipgateSH runs .github/shipgate.sh with a fake dagger that records its arguments, one a line.
func shipgateSH(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	dir := t.TempDir()
	rec := filepath.Join(dir, "args")
	fake := "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" >" + rec + "\necho 'report'\n"
	if err := os.WriteFile(filepath.Join(dir, "dagger"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join(repoRoot, ".github", "shipgate.sh"))
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + dir + ":/usr/bin:/bin", "HOME=" + dir}, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shipgate.sh %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestShipgateScriptPinsKeylessIdentity (issue 11 item 12): at publish, promote, status and
// rollback of V, a keyless signature counts only if this repository's publish workflow made it on
// refs/heads/release/V.
func TestShipgateScriptPinsKeylessIdentity(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	base := []string{"REPO=acme/app", "SIGN=keyless", "SHIPGATE_GITHUB_TOKEN=ghs_secretvalue", "SHIPGATE_WORKFLOW=.github/workflows/shipgate-publish.yml"}
	for _, fn := range []string{"publish", "promote", "status", "rollback"} {
		args := shipgateSH(t, base, fn, "--version", "1.2.3")
		id, ok := testkit.FlagValue(args, "--certificate-identity")
		if want := "https://github.com/acme/app/.github/workflows/shipgate-publish.yml@refs/heads/release/1.2.3"; !ok || id != want {
			t.Errorf("%s: --certificate-identity %q, want %q (args %v)", fn, id, want, args)
		}
		if w, _ := testkit.FlagValue(args, "--workflow"); w != ".github/workflows/shipgate-publish.yml" {
			t.Errorf("%s: --workflow %q", fn, w)
		}
		if tok, _ := testkit.FlagValue(args, "--github-token"); tok != "env:SHIPGATE_GITHUB_TOKEN" {
			t.Errorf("%s: token passed as %q", fn, tok)
		}
		if strings.Contains(strings.Join(args, " "), "ghs_secretvalue") {
			t.Errorf("%s: the token's value is on dagger's command line", fn)
		}
	}
	// An identity given in SHIPGATE_EXTRA_ARGS wins. A reusable workflow of another repository
	// keeps the module's default (its ref is the caller's pin). Functions without a version, or
	// that verify nothing, are not pinned.
	for name, c := range map[string]struct {
		env []string
		fn  string
	}{
		"prepare":           {nil, "prepare"},
		"explicit identity": {[]string{"SHIPGATE_EXTRA_ARGS=--certificate-identity-regexp ^https://x$"}, "promote"},
		"remote workflow":   {[]string{"SHIPGATE_WORKFLOW=shipgate/shipgate/.github/workflows/shipgate-publish.yml"}, "promote"},
		"key mode":          {[]string{"SIGN=key"}, "promote"},
	} {
		args := shipgateSH(t, append(append([]string{}, base...), c.env...), c.fn, "--version", "1.2.3")
		if id, ok := testkit.FlagValue(args, "--certificate-identity"); ok {
			t.Errorf("%s: pinned %q", name, id)
		}
	}
	// The default publish workflow of this repository is pinned the same way.
	args := shipgateSH(t, []string{"REPO=acme/app", "SIGN=keyless"}, "promote", "--version=2.0.0")
	if id, _ := testkit.FlagValue(args, "--certificate-identity"); id != "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/release/2.0.0" {
		t.Errorf("default workflow: %q", id)
	}
	// A candidate was published from the branch of its final; another pre-release from its own.
	for v, branch := range map[string]string{"2.0.0-rc.4": "2.0.0", "2.0.0-rc12": "2.0.0", "2.0.0-beta.1": "2.0.0-beta.1"} {
		args := shipgateSH(t, []string{"REPO=acme/app", "SIGN=keyless"}, "promote", "--version", v)
		if id, _ := testkit.FlagValue(args, "--certificate-identity"); id != "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/release/"+branch {
			t.Errorf("%s: %q, want release/%s", v, id, branch)
		}
	}
}

// TestShipgateScriptNeverEvaluatesExtraArgs: SHIPGATE_EXTRA_ARGS is split on spaces, not run.
func TestShipgateScriptNeverEvaluatesExtraArgs(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	args := shipgateSH(t, []string{"REPO=acme/app", "SIGN=none", "SHIPGATE_EXTRA_ARGS=--plain-http $(touch " + pwned + ") `touch " + pwned + "`;touch " + pwned}, "status", "--version", "1.0.0")
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("SHIPGATE_EXTRA_ARGS was evaluated")
	}
	if v, _ := testkit.FlagValue(args, "--plain-http"); v != "$(touch" {
		t.Errorf("extra args not passed literally: %v", args)
	}
}

// TestJustfileRunsFromAnotherCheckout (issue 18 item 4): the release recipes, called with
// `just -f PATH/TO/shipgate/justfile` from a project's checkout, release that project: dagger runs
// there with --source ., the module is this checkout (or SHIPGATE_MODULE), and nothing of this
// repository's tooling (.ci/setup, go run) is needed — only dagger on PATH.
func TestJustfileRunsFromAnotherCheckout(t *testing.T) {
	just := testkit.Just(t)
	justfile, _ := filepath.Abs(filepath.Join(repoRoot, "justfile"))
	root, _ := filepath.Abs(repoRoot)
	project := t.TempDir()
	bin := t.TempDir()
	rec := filepath.Join(bin, "record")
	fake := "#!/usr/bin/env bash\n{ echo \"PWD=$PWD\"; printf '%s\\n' \"$@\"; } >" + rec + "\necho report\n"
	if err := os.WriteFile(filepath.Join(bin, "dagger"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// PATH holds just, the fake dagger and /usr/bin:/bin: no Go toolchain; the project is no git checkout.
	env := []string{"PATH=" + bin + ":" + filepath.Dir(just) + ":/usr/bin:/bin", "HOME=" + project, "REPO=acme/app", "SIGN=none", "DRY_RUN=true"}
	for name, c := range map[string]struct {
		env    []string
		module string
	}{
		"this checkout's module": {nil, root},
		"a pinned module":        {[]string{"SHIPGATE_MODULE=github.com/shipgate/shipgate@v1.0.0"}, "github.com/shipgate/shipgate@v1.0.0"},
	} {
		cmd := exec.Command(just, "--justfile", justfile, "publish", "1.4.0")
		cmd.Dir = project
		cmd.Env = append(append([]string{}, env...), c.env...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: just publish from another checkout: %v\n%s", name, err, b)
		}
		got, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(strings.TrimSpace(string(got)), "\n")
		if args[0] != "PWD="+project {
			t.Errorf("%s: dagger ran in %s, want the project's checkout %s", name, args[0], project)
		}
		if m, _ := testkit.FlagValue(args, "-m"); m != c.module {
			t.Errorf("%s: module %q, want %q", name, m, c.module)
		}
		if s, _ := testkit.FlagValue(args, "--source"); s != "." {
			t.Errorf("%s: --source %q", name, s)
		}
		joined := strings.Join(args, " ")
		if !strings.Contains(joined, "publish --version 1.4.0 --dry-run") {
			t.Errorf("%s: dagger args %v", name, args)
		}
	}
}

// toolSteps returns the script of every `id: tool` step of the reusable workflows, by file:job.
func toolSteps(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "shipgate-*.yml"))
	if len(files) != 3 {
		t.Fatalf("reusable workflows: %v", files)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			t.Fatal(err)
		}
		wf := root.Content[0]
		if c := Get(Get(wf, "on"), "workflow_call"); c == nil {
			t.Errorf("%s is not a workflow_call workflow", f)
		}
		jobs := Get(wf, "jobs")
		for i := 0; i+1 < len(jobs.Content); i += 2 {
			steps := Get(jobs.Content[i+1], "steps")
			for _, s := range steps.Content {
				if id := Get(s, "id"); id != nil && id.Value == "tool" {
					out[filepath.Base(f)+":"+jobs.Content[i].Value] = Get(s, "run").Value
				}
			}
		}
	}
	return out
}

// TestReusableWorkflowsLocateTheModule: every job of the reusable workflows resolves the pinned
// module the same way — its repository and ref (to fetch the matching shipgate.sh), and the
// publish workflow whose keyless signatures count — and refuses an unpinned module.
func TestReusableWorkflowsLocateTheModule(t *testing.T) {
	steps := toolSteps(t)
	if len(steps) != 6 {
		t.Fatalf("want the tool step in 6 jobs (publish ×4, promote, prepare), got %d: %v", len(steps), steps)
	}
	var script string
	for where, s := range steps {
		if script == "" {
			script = s
		} else if s != script {
			t.Errorf("%s: the tool step differs from the others", where)
		}
	}
	run := func(module, downstream string) (map[string]string, error) {
		out := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "MODULE=" + module, "DOWNSTREAM=" + downstream, "GITHUB_OUTPUT=" + out, "GITHUB_WORKSPACE=/ws"}
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %s", err, b)
		}
		b, _ := os.ReadFile(out)
		kv := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			kv[k] = v
		}
		return kv, nil
	}
	kv, err := run("github.com/shipgate/shipgate@0123456789abcdef0123456789abcdef01234567", "acme/smoke")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"module":           "github.com/shipgate/shipgate@0123456789abcdef0123456789abcdef01234567",
		"repository":       "shipgate/shipgate",
		"ref":              "0123456789abcdef0123456789abcdef01234567",
		"script":           "/ws/shipgate/.github/shipgate.sh",
		"workflow":         "shipgate/shipgate/.github/workflows/shipgate-publish.yml",
		"downstream-owner": "acme",
		"downstream-name":  "smoke",
	} {
		if kv[k] != want {
			t.Errorf("remote module: %s=%q, want %q", k, kv[k], want)
		}
	}
	kv, err = run(".", "")
	if err != nil {
		t.Fatal(err)
	}
	if kv["repository"] != "" || kv["script"] != "/ws/src/.github/shipgate.sh" || kv["workflow"] != ".github/workflows/shipgate-publish.yml" || kv["downstream-owner"] != "" {
		t.Errorf("local module: %v", kv)
	}
	for _, bad := range []string{"github.com/shipgate/shipgate", "github.com/shipgate/shipgate@", "shipgate", "github.com/x/y@v1\nscript=/tmp/evil", "github.com/x/y@v1 ; id", ""} {
		if kv, err := run(bad, ""); err == nil {
			t.Errorf("module %q accepted: %v", bad, kv)
		}
	}
}

// TestReusableWorkflowsNeedTheirGuards: taking the environment or the ref guard away from the
// repository's own reusable workflows makes the check fail, job by job.
func TestReusableWorkflowsNeedTheirGuards(t *testing.T) {
	for file, jobs := range map[string][]string{
		"shipgate-publish.yml": {"publish", "finalize", "join"},
		"shipgate-promote.yml": {"promote"},
		"shipgate-prepare.yml": {"prepare"},
	} {
		b, err := os.ReadFile(filepath.Join(repoRoot, ".github", "workflows", file))
		if err != nil {
			t.Fatal(err)
		}
		for seed, want := range map[string]string{
			"    environment: ${{ inputs.environment }}\n": "declares no `environment:`",
			"github.ref ==": "has no `if:` guarding on github.ref",
		} {
			bad := strings.ReplaceAll(string(b), seed, "")
			if seed == "github.ref ==" {
				bad = strings.ReplaceAll(string(b), seed, "github.sha ==")
			}
			fs, err := File(file, []byte(bad))
			if err != nil {
				t.Fatal(err)
			}
			for _, job := range jobs {
				found := false
				for _, f := range fs {
					if strings.Contains(f.Msg, "job "+job+" ") && strings.Contains(f.Msg, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s without %q: job %s not flagged (%v)", file, seed, job, fs)
				}
			}
		}
	}
}

// TestCosignPubComesFromTheDefaultBranch (issue 11 item 12): publish verifies against, and promote
// checks out, the default branch's cosign.pub, never one committed to a release branch.
func TestCosignPubComesFromTheDefaultBranch(t *testing.T) {
	read := func(file string) *yaml.Node {
		b, err := os.ReadFile(filepath.Join(repoRoot, ".github", "workflows", file))
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			t.Fatal(err)
		}
		return Get(root.Content[0], "jobs")
	}
	const defaultBranch = "${{ github.event.repository.default_branch }}"
	pub := read("shipgate-publish.yml")
	for _, job := range []string{"publish", "join"} {
		var keyCheckout, pubEnv bool
		for _, s := range Get(Get(pub, job), "steps").Content {
			with := Get(s, "with")
			if sc := Get(with, "sparse-checkout"); sc != nil && sc.Value == "cosign.pub" && Get(with, "ref").Value == defaultBranch {
				keyCheckout = Get(with, "path").Value == "default-branch"
			}
			if v := Get(Get(s, "env"), "COSIGN_PUB"); v != nil {
				pubEnv = v.Value == "${{ github.workspace }}/default-branch/cosign.pub"
			}
		}
		if !keyCheckout || !pubEnv {
			t.Errorf("publish job %s: cosign.pub from the default branch: checkout %v, COSIGN_PUB %v", job, keyCheckout, pubEnv)
		}
	}
	first := Get(Get(Get(read("shipgate-promote.yml"), "promote"), "steps").Content[0], "with")
	if Get(first, "ref") == nil || Get(first, "ref").Value != defaultBranch {
		t.Errorf("promote does not check out the default branch: %v", Get(first, "ref"))
	}
}
