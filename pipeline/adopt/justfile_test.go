package adopt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/testkit"
)

// project is an adopter's checkout outside this repository holding the rendered files, with a
// fake dagger that records its working directory and argv (NUL-separated) instead of
// running anything.
type project struct {
	dir, bin, record, just string
}

func newProject(t *testing.T, o Options) project {
	t.Helper()
	p := project{dir: t.TempDir(), bin: t.TempDir(), just: testkit.Just(t)}
	if wd, _ := os.Getwd(); strings.HasPrefix(p.dir, filepath.Dir(filepath.Dir(wd))) {
		t.Fatalf("the scratch checkout %s is inside this repository", p.dir)
	}
	write(t, p.dir, render(t, o))
	p.record = filepath.Join(p.bin, "record")
	fake := "#!/usr/bin/env bash\n{ printf '%s\\0' \"$PWD\" \"$@\"; } >" + p.record + "\necho report\n"
	if err := os.WriteFile(filepath.Join(p.bin, "dagger"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// run calls `just --justfile <rendered> ARGS` from the project's checkout. PATH holds the fake
// dagger, just and /usr/bin:/bin only: no Go toolchain, no shipgate checkout, no .ci/setup.
func (p project) run(env []string, args ...string) (string, error) {
	os.Remove(p.record)
	cmd := exec.Command(p.just, append([]string{"--justfile", filepath.Join(p.dir, Justfile)}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append([]string{"PATH=" + p.bin + ":" + filepath.Dir(p.just) + ":/usr/bin:/bin", "HOME=" + p.dir}, env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// argv is what the fake dagger recorded: its working directory, then its arguments; nil if it
// never ran.
func (p project) argv(t *testing.T) (pwd string, args []string) {
	t.Helper()
	b, err := os.ReadFile(p.record)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	return fields[0], fields[1:]
}

// TestJustfilePublishesFromAScratchCheckout (issue 18 item 4): `just publish 1.2.3` with the
// rendered justfile, in a checkout that is not this repository and with only dagger on PATH, runs
// the pinned module on that checkout (--source .) with the project's settings, the version as one
// argument and secrets as env: references.
func TestJustfilePublishesFromAScratchCheckout(t *testing.T) {
	t.Parallel()
	p := newProject(t, sample())
	env := []string{"SHIPGATE_GITHUB_TOKEN=ghs_secretvalue", "REGISTRY_USERNAME=you", "REGISTRY_PASSWORD=regsecret"}
	out, err := p.run(env, "publish", "1.2.3")
	if err != nil {
		t.Fatalf("just publish 1.2.3: %v\n%s", err, out)
	}
	pwd, args := p.argv(t)
	if args == nil {
		t.Fatalf("dagger never ran:\n%s", out)
	}
	if real, _ := filepath.EvalSymlinks(p.dir); pwd != p.dir && pwd != real {
		t.Errorf("dagger ran in %s, want the project's checkout %s", pwd, p.dir)
	}
	want := []string{"-m", sampleModule, "call", "--source", ".", "--repo", "Acme/App", "--image", "ghcr.io/acme/app", "--format", "text",
		"--registry-username", "you", "--registry-password", "env:REGISTRY_PASSWORD", "--github-token", "env:SHIPGATE_GITHUB_TOKEN",
		"--sign", "keyless", "--workflow", "shipgate/shipgate/.github/workflows/shipgate-publish.yml",
		"publish", "--version", "1.2.3"}
	if strings.Join(args, "\n") != strings.Join(want, "\n") {
		t.Errorf("dagger argv:\n  got  %q\n  want %q", args, want)
	}
	if all := strings.Join(args, " ") + out; strings.Contains(all, "ghs_secretvalue") || strings.Contains(all, "regsecret") {
		t.Error("a secret's value reached dagger's command line or the output")
	}

	// The settings a laptop changes: the signing mode, a dry run, another module, extra flags
	// (split on spaces, never evaluated), a pre-release version.
	pwned := filepath.Join(p.dir, "pwned")
	out, err = p.run([]string{"SIGN=key", "COSIGN_KEY=k", "DRY_RUN=true", "SHIPGATE_MODULE=github.com/acme/shipgate@" + sampleCommit,
		"SHIPGATE_EXTRA_ARGS=--plain-http $(touch " + pwned + ") `touch " + pwned + "`"}, "promote", "1.2.3-rc.1")
	if err != nil {
		t.Fatalf("just promote: %v\n%s", err, out)
	}
	_, args = p.argv(t)
	if m, _ := testkit.FlagValue(args, "-m"); m != "github.com/acme/shipgate@"+sampleCommit {
		t.Errorf("SHIPGATE_MODULE ignored: -m %q", m)
	}
	for flag, v := range map[string]string{"--sign": "key", "--verify-key": "cosign.pub", "--signing-key": "env:COSIGN_KEY", "--signing-password": "env:COSIGN_PASSWORD", "--plain-http": "$(touch", "--version": "1.2.3-rc.1"} {
		if got, _ := testkit.FlagValue(args, flag); got != v {
			t.Errorf("%s %q, want %q (argv %q)", flag, got, v, args)
		}
	}
	if args[len(args)-1] != "--dry-run" || !strings.Contains(strings.Join(args, " "), " promote --version 1.2.3-rc.1 --dry-run") {
		t.Errorf("promote with DRY_RUN=true: argv %q", args)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("SHIPGATE_EXTRA_ARGS was evaluated")
	}
	// Every recipe calls its own function.
	for _, fn := range []string{"prepare", "status", "rollback"} {
		if out, err := p.run(nil, fn, "2.0.0"); err != nil {
			t.Fatalf("just %s: %v\n%s", fn, err, out)
		}
		if _, args := p.argv(t); !strings.HasSuffix(strings.Join(args, " "), " "+fn+" --version 2.0.0") {
			t.Errorf("just %s: argv %q", fn, args)
		}
	}
}

// TestJustfileNeverRunsAVersion: a version that would run a command if it were pasted into a
// shell runs nothing and never reaches dagger, through every recipe; a malformed version is
// refused with the reason before dagger starts.
func TestJustfileNeverRunsAVersion(t *testing.T) {
	t.Parallel()
	p := newProject(t, sample())
	pwned := filepath.Join(p.dir, "pwned")
	payloads := testkit.InjectionPayloads(pwned)
	// Every payload through publish, one through each other recipe (`just` takes about a second
	// to start here; the static check in TestRenderedFilesPassWorkflowcheck covers the bodies).
	for _, recipe := range []string{"publish", "promote", "status", "rollback", "prepare"} {
		ps := payloads[:1]
		if recipe == "publish" {
			ps = payloads
		}
		for _, v := range ps {
			out, err := p.run(nil, recipe, v)
			if err == nil {
				t.Errorf("just %s %q succeeded:\n%s", recipe, v, out)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatalf("just %s %q ran the injected command:\n%s", recipe, v, out)
			}
			if _, args := p.argv(t); args != nil {
				t.Errorf("just %s %q reached dagger: %q", recipe, v, args)
			}
		}
	}
	// Even past the version check, the private recipe takes the version as one argument.
	if out, err := p.run(nil, "_shipgate", "status", "1.0.0; touch "+pwned); err != nil {
		t.Fatalf("just _shipgate: %v\n%s", err, out)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("_shipgate ran the injected command")
	}
	if _, args := p.argv(t); args[len(args)-1] != "1.0.0; touch "+pwned {
		t.Errorf("the version was not one argument: %q", args)
	}
	for v, ok := range map[string]bool{"1.4.0-rc.1": true, "01.4.0": false, "v1.4": false, strings.Repeat("1", 70) + ".0.0": false} {
		out, err := p.run(nil, "status", v)
		if (err == nil) != ok {
			t.Errorf("just status %q: err=%v\n%s", v, err, out)
		}
		if !ok && !strings.Contains(out, "is not X.Y.Z") {
			t.Errorf("just status %q: no reason: %s", v, out)
		}
	}
	// Without dagger the recipes say what to install.
	if err := os.Remove(filepath.Join(p.bin, "dagger")); err != nil {
		t.Fatal(err)
	}
	if out, err := p.run(nil, "status", "1.0.0"); err == nil || !strings.Contains(out, "dagger not found: install the Dagger CLI") {
		t.Errorf("without dagger: err=%v\n%s", err, out)
	}
}

// TestJustfileScriptPassesShellcheck runs shellcheck over the bash of the rendered justfile's
// recipes (the _shipgate script and the _version check). It skips without shellcheck (CI's lint
// has it).
func TestJustfileScriptPassesShellcheck(t *testing.T) {
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not found")
	}
	var script, check []string
	var cur *[]string
	for _, l := range strings.Split(render(t, sample())[Justfile], "\n") {
		switch {
		case strings.HasPrefix(l, "_shipgate "):
			cur = &script
		case strings.HasPrefix(l, "_version "):
			cur = &check
		case strings.HasPrefix(l, "    ") && cur != nil:
			*cur = append(*cur, strings.TrimPrefix(l, "    "))
		case l != "":
			cur = nil
		}
	}
	if len(script) < 10 || len(check) < 3 || script[0] != "#!/usr/bin/env bash" {
		t.Fatalf("recipes not found: %d and %d lines", len(script), len(check))
	}
	// The _version body is one just line joined by backslash-newlines; its leading @ is just's.
	check[0] = strings.TrimPrefix(check[0], "@")
	for name, body := range map[string]string{"_shipgate": strings.Join(script, "\n"), "_version": "#!/usr/bin/env bash\nset -- \"$1\"\n" + strings.Join(check, "\n")} {
		f := filepath.Join(t.TempDir(), name+".sh")
		if err := os.WriteFile(f, []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(bin, "-s", "bash", f).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s\n%s", name, err, b, body)
		}
	}
}
