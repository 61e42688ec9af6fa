package enginetest

// Running these tests needs a Dagger v0.21.8 engine, its CLI and cosign:
//
//	_EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://dagger-engine-v0.21.8   # the engine
//	_EXPERIMENTAL_DAGGER_CLI_BIN=/usr/local/bin/dagger                          # optional; default: dagger on PATH
//	SHIPGATE_E2E_HOST=172.17.0.1   # an address of this machine that both the engine and the containers
//	                               # of module functions reach (the engine's bridge gateway)
//	SHIPGATE_COSIGN=/path/to/cosign   # makes the signing key pair (default: cosign on PATH)
//	SHIPGATE_REQUIRE_ENGINE=1         # a missing engine fails the tests instead of skipping them
//
//	go test -count=1 -v ./pipeline/enginetest   # -count=1: a cached pass never touches the engine
//
// The registry and the GitHub API server listen on SHIPGATE_E2E_HOST; the engine must be allowed
// plain HTTP to that registry (engine.toml: [registry."172.17.0.1:PORT"] http = true, or
// SHIPGATE_E2E_REGISTRY_PORT to use a fixed port you configured). Publish makes SBOMs, so the
// engine pulls the pinned syft image. Without _EXPERIMENTAL_DAGGER_RUNNER_HOST every test here
// skips, or fails when SHIPGATE_REQUIRE_ENGINE=1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/githubserver"
)

const (
	repo       = "acme/tiny"
	smokeRepo  = "acme/smoke"
	ghToken    = "ghs_engineTestToken000001"
	downToken  = "ghs_engineTestDown000002"
	regUser    = "bot"
	regPass    = "engine-test-registry-password-0003"
	cosignPW   = "engine-test-key-password"
	requireEnv = "SHIPGATE_REQUIRE_ENGINE"
)

// engine returns the dagger CLI and the host address, or skips the test when no engine is
// reachable — unless SHIPGATE_REQUIRE_ENGINE=1, which makes a missing engine a failure (CI sets
// it, so a misconfigured runner cannot pass by skipping).
func engine(t *testing.T) (cli, host string) {
	t.Helper()
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		const why = "no Dagger engine: set _EXPERIMENTAL_DAGGER_RUNNER_HOST (and SHIPGATE_E2E_HOST) to run the engine-backed tests"
		if os.Getenv(requireEnv) == "1" {
			t.Fatal(why + "; " + requireEnv + "=1 makes this a failure")
		}
		t.Skip(why)
	}
	host = os.Getenv("SHIPGATE_E2E_HOST")
	if host == "" {
		t.Fatal("SHIPGATE_E2E_HOST is required with an engine: an address of this machine reachable from the engine and its containers (its bridge gateway, e.g. 172.17.0.1)")
	}
	cli = os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN")
	if cli == "" {
		cli = "dagger"
	}
	return cli, host
}

// TestRequireEngineSwitch: with SHIPGATE_REQUIRE_ENGINE=1 and no engine, engine() fails instead of
// skipping. It runs the check in a child process, where the switch is set and the engine unset.
func TestRequireEngineSwitch(t *testing.T) {
	if os.Getenv("SHIPGATE_ENGINETEST_CHILD") == "1" {
		engine(t)
		return
	}
	for _, c := range []struct {
		require  string
		wantFail bool
	}{{"1", true}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestRequireEngineSwitch$", "-test.v", "-test.count=1")
		cmd.Env = append(withoutEnv(os.Environ(), "_EXPERIMENTAL_DAGGER_RUNNER_HOST", requireEnv), "SHIPGATE_ENGINETEST_CHILD=1", requireEnv+"="+c.require)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != c.wantFail {
			t.Errorf("%s=%q without an engine: failed=%v, want %v\n%s", requireEnv, c.require, failed, c.wantFail, out)
		}
		if !c.wantFail && !strings.Contains(string(out), "SKIP") {
			t.Errorf("%s unset without an engine: the test did not skip\n%s", requireEnv, out)
		}
	}
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// moduleDir is the repository root (where dagger.json is).
func moduleDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func listen(t *testing.T, host, port string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// tinyApp compiles a static binary for one platform.
func tinyApp(t *testing.T, goarch string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"tiny\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tiny app: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// world is what the engine-backed test releases into: a registry and a GitHub API server on
// SHIPGATE_E2E_HOST, a cosign key pair, and the dagger CLI pointed at the module.
type world struct {
	t       *testing.T
	ctx     context.Context
	cli     string
	gh      *githubserver.Server
	regHost string
	image   string
	keyDir  string
	key     []byte
	// secrets are what must never appear in any output: tokens, the registry password, the
	// signing key's password, the key itself and every line of its body.
	secrets []string
}

func newWorld(t *testing.T) *world {
	cli, host := engine(t)
	w := &world{t: t, ctx: context.Background(), cli: cli}

	// Registry, reachable by the engine (pushes) and the function containers (reads, signatures).
	// It asks for no credentials; the module gets some anyway, so the test can check they never leak.
	rl := listen(t, host, os.Getenv("SHIPGATE_E2E_REGISTRY_PORT"))
	regSrv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go func() { _ = regSrv.Serve(rl) }()
	t.Cleanup(func() { _ = regSrv.Close() })
	w.regHost = rl.Addr().String()
	w.image = w.regHost + "/acme/tiny"

	gl := listen(t, host, "0")
	gl.Close()
	w.gh = githubserver.New(githubserver.Options{Addr: gl.Addr().String(), EagerMergeability: true})
	t.Cleanup(w.gh.Close)
	// One binary per platform: the Dockerfile picks by TARGETARCH.
	w.gh.AddRepo(repo, githubserver.RepoOptions{Files: map[string]string{
		"Dockerfile":   "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n",
		"app-amd64":    string(tinyApp(t, "amd64")),
		"app-arm64":    string(tinyApp(t, "arm64")),
		"CHANGELOG.md": "# Changelog\n\n## [Unreleased]\n\n- First tiny release.\n",
	}})
	w.gh.AddRepo(smokeRepo, githubserver.RepoOptions{})
	w.gh.AddToken(ghToken, "bot", map[string]githubserver.Perm{repo: githubserver.PermPush})
	w.gh.AddToken(downToken, "smoke", map[string]githubserver.Perm{smokeRepo: githubserver.PermPush})

	w.keyDir = t.TempDir()
	cosign := os.Getenv("SHIPGATE_COSIGN")
	if cosign == "" {
		cosign = "cosign"
	}
	kg := exec.Command(cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(w.keyDir, "cosign"))
	kg.Env = append(os.Environ(), "COSIGN_PASSWORD="+cosignPW)
	if b, err := kg.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair (set SHIPGATE_COSIGN to a cosign binary): %v\n%s", err, b)
	}
	var err error
	if w.key, err = os.ReadFile(filepath.Join(w.keyDir, "cosign.key")); err != nil {
		t.Fatal(err)
	}
	w.secrets = []string{ghToken, downToken, regPass, cosignPW, strings.TrimSpace(string(w.key))}
	for _, l := range strings.Split(string(w.key), "\n") {
		if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			w.secrets = append(w.secrets, l)
		}
	}
	return w
}

// result is one `dagger call`: its outputs and its error (a non-zero exit).
type result struct {
	stdout, stderr string
	err            error
}

func (r result) output() string { return r.stdout + r.stderr }

// exitCode is the CLI's exit status (0 when it succeeded, -1 when it did not run).
func (r result) exitCode() int {
	var ee *exec.ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// call runs `dagger call --progress plain` with the world's settings, then the extra constructor
// flags (those before "--"), then the function and its flags. src, when set, is --source. Every
// output is checked for secrets.
func (w *world) call(src string, args ...string) result {
	w.t.Helper()
	ctor, fn := []string(nil), args
	for i, a := range args {
		if a == "--" {
			ctor, fn = args[:i], args[i+1:]
		}
	}
	base := []string{"call", "--progress", "plain",
		"--repo", repo, "--image", w.image, "--github-api", w.gh.APIURL(), "--plain-http", w.regHost, "--plain-http", strings.TrimPrefix(w.gh.URL(), "http://"),
		"--registry-username", regUser, "--registry-password", "env:SG_REG",
		"--github-token", "env:SG_GH", "--downstream", smokeRepo, "--downstream-token", "env:SG_DOWN",
		"--sign", "key", "--no-tlog-upload", "--signing-key", "env:SG_KEY", "--signing-password", "env:SG_PW",
		"--verify-key", filepath.Join(w.keyDir, "cosign.pub")}
	if src != "" {
		base = append(base, "--source", src)
	}
	cmd := exec.CommandContext(w.ctx, w.cli, append(append(base, ctor...), fn...)...)
	cmd.Dir = moduleDir(w.t)
	cmd.Env = append(os.Environ(), "SG_GH="+ghToken, "SG_DOWN="+downToken, "SG_REG="+regPass, "SG_KEY="+string(w.key), "SG_PW="+cosignPW)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), err: err}
	for i, s := range w.secrets {
		if strings.Contains(r.output(), s) {
			w.t.Errorf("dagger call %s: secret #%d (%s) appeared in its output", strings.Join(fn, " "), i, secretName(i))
		}
	}
	if err != nil {
		r.err = &callError{err: err, stderr: r.stderr}
	}
	return r
}

func secretName(i int) string {
	names := []string{"GitHub token", "downstream token", "registry password", "signing key password", "signing key"}
	if i < len(names) {
		return names[i]
	}
	return "a line of the signing key"
}

// must runs a call that has to succeed.
func (w *world) must(src string, args ...string) result {
	w.t.Helper()
	r := w.call(src, args...)
	if r.err != nil {
		w.t.Fatalf("dagger call %s: %v\n%s", strings.Join(args, " "), r.err, r.stdout)
	}
	return r
}

// report is the part of a phase's JSON report (--format json) the test reads.
type report struct {
	Phase   string `json:"phase"`
	Verdict string `json:"verdict"`
	Error   string `json:"error"`
	OK      bool   `json:"ok"`
	// Refused lists each refusing step as "step: why".
	Refused []string `json:"refused"`
	Steps   []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"steps"`
	Outputs []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"outputs"`
}

func (w *world) report(r result) report {
	w.t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		w.t.Fatalf("the report is not JSON: %v\n%s", err, r.stdout)
	}
	return rep
}

func (r report) get(key string) string {
	for _, o := range r.Outputs {
		if o.Key == key {
			return o.Value
		}
	}
	return ""
}

// phase runs a call that has to succeed with --format json and returns its report, checking that
// the progress output names every step of it (see namesEveryStep).
func (w *world) phase(src string, args ...string) report {
	w.t.Helper()
	r := w.must(src, append([]string{"--format", "json", "--"}, args...)...)
	rep := w.report(r)
	w.namesEveryStep(r, rep)
	return rep
}

// namesEveryStep checks that the progress output names each step of the report: the steps are
// what an operator follows in `dagger call --progress=plain`.
func (w *world) namesEveryStep(r result, rep report) {
	w.t.Helper()
	if len(rep.Steps) == 0 {
		w.t.Fatalf("%s report has no steps:\n%s", rep.Phase, r.stdout)
	}
	for _, s := range rep.Steps {
		if !strings.Contains(r.stderr, s.Name) {
			w.t.Errorf("%s: the progress output does not name step %q", rep.Phase, s.Name)
		}
	}
}

// snapshot is the world as the release touches it: every registry tag and its digest, the
// releases, pull requests, refs and dispatches. Equal snapshots mean nothing changed.
func (w *world) snapshot(versions ...string) string {
	w.t.Helper()
	var b strings.Builder
	r, err := name.NewRepository(w.image, name.Insecure)
	if err != nil {
		w.t.Fatal(err)
	}
	tags, err := remote.List(r, remote.WithContext(w.ctx))
	if err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		w.t.Fatalf("list tags: %v", err)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		fmt.Fprintf(&b, "tag %s %s\n", tag, w.digest(tag))
	}
	refs := []string{"refs/heads/main", github.LockRef}
	for _, v := range versions {
		refs = append(refs, "refs/heads/release/"+v, "refs/tags/v"+v)
	}
	for _, ref := range refs {
		sha, ok := w.gh.Ref(repo, ref)
		fmt.Fprintf(&b, "ref %s %s %v\n", ref, sha, ok)
	}
	fmt.Fprintf(&b, "releases %+v\npulls %+v\ndispatches %d\n", w.gh.Releases(repo), w.gh.Pulls(repo), len(w.gh.Dispatches(smokeRepo)))
	return b.String()
}

// unchanged fails when the world differs from before.
func (w *world) unchanged(what, before string, versions ...string) {
	w.t.Helper()
	if after := w.snapshot(versions...); after != before {
		w.t.Errorf("%s changed the world:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// refusedUnchanged runs a call (without --source) that has to fail, saying why: names must accept
// its output. The call must leave the world of version 1.0.0 as it was.
func (w *world) refusedUnchanged(what string, names func(out string) bool, args ...string) {
	w.t.Helper()
	before := w.snapshot("1.0.0")
	r := w.call("", args...)
	if r.exitCode() == 0 {
		w.t.Fatalf("%s succeeded:\n%s", what, r.stdout)
	}
	if !names(r.output()) {
		w.t.Errorf("%s: the refusal does not name its reason:\n%s", what, r.output())
	}
	w.unchanged(what, before, "1.0.0")
}

// digest is what a tag holds, computed from the manifest bytes ("" when the tag does not exist).
func (w *world) digest(tag string) string {
	w.t.Helper()
	ref, err := name.NewTag(w.image+":"+tag, name.Insecure)
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := remote.Get(ref, remote.WithContext(w.ctx))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// platformsReadBack checks that each per-arch image's config names the platform it was built for
// (the engine mislabels FROM scratch arm64 builds; the module re-wraps them).
func (w *world) platformsReadBack(version string) {
	w.t.Helper()
	for _, arch := range []string{"amd64", "arm64"} {
		ref, err := name.NewTag(w.image+":"+version+"-"+arch, name.Insecure)
		if err != nil {
			w.t.Fatal(err)
		}
		img, err := remote.Image(ref, remote.WithContext(w.ctx))
		if err != nil {
			w.t.Fatalf("%s: %v", ref, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil || cfg.OS != "linux" || cfg.Architecture != arch {
			w.t.Fatalf("%s image config says %s/%s (%v)", ref, cfg.OS, cfg.Architecture, err)
		}
	}
}

// smokeTestPasses publishes the downstream pre-release that names the tested digest.
func (w *world) smokeTestPasses(version, digest string) {
	w.gh.CreateRelease(smokeRepo, githubserver.ReleaseSeed{Tag: "v" + version, Prerelease: true, Body: "tested " + digest})
}

// addUnreleased writes a new entry under [Unreleased] on the default branch, for the next release.
func (w *world) addUnreleased(entry string) {
	w.t.Helper()
	cl, ok := w.gh.File(repo, "main", "CHANGELOG.md")
	if !ok || !strings.Contains(cl, "## [Unreleased]\n") {
		w.t.Fatalf("no [Unreleased] section on main:\n%s", cl)
	}
	cl = strings.Replace(cl, "## [Unreleased]\n", "## [Unreleased]\n\n- "+entry+"\n", 1)
	w.gh.CommitFiles(repo, "main", map[string]string{"CHANGELOG.md": cl}, "changelog: "+entry)
}

// steps runs the phases of the test in order; once one fails, the later ones skip.
type steps struct {
	t      *testing.T
	broken string
}

func (s *steps) run(name string, f func(t *testing.T)) {
	s.t.Helper()
	if s.broken != "" {
		s.t.Run(name, func(t *testing.T) { t.Skipf("an earlier step failed: %s", s.broken) })
		return
	}
	if !s.t.Run(name, f) {
		s.broken = name
	}
}

// TestReleaseThroughTheModule drives every function a user calls through the engine, in the order
// a release uses them: prepare, dry runs, publish (with SBOMs), a refused promote, a refused
// --merge-method, status, promote, the native-runner path for a second version, and rollback.
// Each call's output must be free of secrets; dry runs and refusals must leave the world unchanged.
func TestReleaseThroughTheModule(t *testing.T) {
	w := newWorld(t)
	s := &steps{t: t}
	var src string
	var idx1, idx2 string

	s.run("prepare", func(t *testing.T) {
		w.t = t
		w.must("", "prepare", "--version", "1.0.0")
		if _, ok := w.gh.Ref(repo, "refs/heads/release/1.0.0"); !ok {
			t.Fatal("prepare made no release branch")
		}
		w.markReady("1.0.0")
		src = t.TempDir()
		checkout(t, w.ctx, w.gh, "release/1.0.0", src)
	})
	s.run("publish --dry-run changes nothing", func(t *testing.T) {
		w.t = t
		before := w.snapshot("1.0.0")
		w.must(src, "publish", "--version", "1.0.0", "--dry-run")
		w.unchanged("publish --dry-run", before, "1.0.0")
	})
	s.run("a failing --test pushes nothing", func(t *testing.T) {
		w.t = t
		r := w.call(src, "publish", "--version", "1.0.0", "--test", "/no-such-binary")
		if r.exitCode() == 0 {
			t.Fatalf("publish with a failing --test succeeded:\n%s", r.stdout)
		}
		for _, tag := range []string{"1.0.0", "1.0.0-amd64", "1.0.0-arm64"} {
			if d := w.digest(tag); d != "" {
				t.Fatalf("a failing --test still pushed %s (%s)", tag, d)
			}
		}
	})
	s.run("publish names every step and makes SBOMs", func(t *testing.T) {
		w.t = t
		rep := w.phase(src, "publish", "--version", "1.0.0", "--test", "/app")
		for _, st := range rep.Steps {
			if st.Name == "image tests" && st.Status != "passed" {
				t.Errorf("--test /app in the built images: %s", st.Status)
			}
		}
		for _, st := range rep.Steps {
			if strings.Contains(strings.ToLower(st.Name), "sbom") && st.Status != "acted" && st.Status != "done" {
				t.Errorf("SBOM step %q is %s with SBOMs on", st.Name, st.Status)
			}
		}
		if idx1 = w.digest("1.0.0"); idx1 == "" || !strings.HasSuffix(rep.get("index"), idx1) {
			t.Fatalf("index after publish: tag 1.0.0 holds %q, the report says %q", idx1, rep.get("index"))
		}
		if w.digest("latest") != "" {
			t.Fatal("publish moved latest")
		}
		w.platformsReadBack("1.0.0")
	})
	s.run("a promote refused by a gate changes nothing", func(t *testing.T) {
		w.t = t
		// The smoke test has not passed: the refusal shows the report naming its gate.
		w.refusedUnchanged("promote before the smoke test passed", func(out string) bool {
			return strings.Contains(out, "smoke test") && strings.Contains(strings.ToLower(out), "refused")
		}, "promote", "--version", "1.0.0")
	})
	s.run("--no-fail returns a refused promote's report as the value", func(t *testing.T) {
		w.t = t
		before := w.snapshot("1.0.0")
		r := w.call("", "--format", "json", "--no-fail", "--", "promote", "--version", "1.0.0")
		if r.exitCode() != 0 {
			t.Fatalf("promote --no-fail exited %d:\n%s", r.exitCode(), r.output())
		}
		var got struct {
			OK      bool     `json:"ok"`
			Refused []string `json:"refused"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.OK || len(got.Refused) == 0 || !strings.Contains(strings.Join(got.Refused, "\n"), "smoke test") {
			t.Fatalf("the JSON report on stdout: %v\n%s", err, r.stdout)
		}
		w.unchanged("a refused promote with --no-fail", before, "1.0.0")
	})
	s.run("status shows the refusing gate", func(t *testing.T) {
		w.t = t
		r := w.must("", "status", "--version", "1.0.0")
		if !strings.Contains(r.stdout, "smoke test") || !strings.Contains(r.stdout, "refused") {
			t.Errorf("status does not say promote would be refused by the smoke test:\n%s", r.stdout)
		}
	})
	s.run("a bad --merge-method is refused before anything runs", func(t *testing.T) {
		w.t = t
		w.smokeTestPasses("1.0.0", idx1) // from here on, a promote would succeed
		w.refusedUnchanged("promote with --merge-method sqaush", func(out string) bool {
			return strings.Contains(out, "--merge-method")
		}, "promote", "--version", "1.0.0", "--merge-method", "sqaush")
	})
	s.run("promote --dry-run changes nothing", func(t *testing.T) {
		w.t = t
		before := w.snapshot("1.0.0")
		w.phase("", "promote", "--version", "1.0.0", "--dry-run")
		w.unchanged("promote --dry-run", before, "1.0.0")
	})
	s.run("promote", func(t *testing.T) {
		w.t = t
		w.phase("", "promote", "--version", "1.0.0")
		// latest holds exactly the index that passed the gates (no re-wrapping).
		if got := w.digest("latest"); got != idx1 {
			t.Fatalf("latest is %q after promote, want %s", got, idx1)
		}
		st := w.report(w.must("", "--format", "json", "--", "status", "--version", "1.0.0"))
		if st.Verdict != "promoted" {
			t.Fatalf("status verdict after promote is %q, want promoted", st.Verdict)
		}
	})

	// A second version through the native-runner path: finalize, publish-platform per platform
	// from a checkout of the finalize commit, then publish --prebuilt joins them.
	var fin, src2 string
	s.run("finalize", func(t *testing.T) {
		w.t = t
		w.addUnreleased("Second tiny release.")
		w.must("", "prepare", "--version", "1.1.0")
		w.markReady("1.1.0")
		old := t.TempDir()
		checkout(t, w.ctx, w.gh, "release/1.1.0", old)
		rep := w.report(w.must(old, "--format", "json", "--", "finalize", "--version", "1.1.0"))
		if fin = rep.get("finalize commit"); len(fin) != 40 {
			t.Fatalf("finalize printed no commit: %+v", rep)
		}
		// A runner that checked out the tree before finalize is refused by the source-tree gate,
		// for that reason (its HEAD is not the finalize commit), and pushes nothing. --no-fail
		// makes the refused report the call's value.
		r := w.call(old, "--format", "json", "--no-fail", "--", "publish-platform", "--version", "1.1.0", "--platform", "linux/amd64", "--commit", fin)
		if r.exitCode() != 0 {
			t.Fatalf("publish-platform --no-fail from the pre-finalize tree exited %d:\n%s", r.exitCode(), r.output())
		}
		refusal := "source tree: --commit " + fin[:12] + " is not the source directory's HEAD"
		if got := w.report(r); got.OK || !slices.ContainsFunc(got.Refused, func(s string) bool { return strings.HasPrefix(s, refusal) }) {
			t.Fatalf("publish-platform from the pre-finalize tree: ok %v, refused %q; want the refusal %q…", got.OK, got.Refused, refusal)
		}
		if d := w.digest("1.1.0-amd64"); d != "" {
			t.Fatalf("the refused publish-platform pushed 1.1.0-amd64 (%s)", d)
		}
		src2 = t.TempDir()
		checkout(t, w.ctx, w.gh, "release/1.1.0", src2)
	})
	digests := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		s.run("publish-platform "+p, func(t *testing.T) {
			w.t = t
			rep := w.phase(src2, "publish-platform", "--version", "1.1.0", "--platform", p, "--commit", fin)
			if digests[p] = rep.get("digest"); !strings.HasPrefix(digests[p], "sha256:") {
				t.Fatalf("publish-platform %s printed no digest: %+v", p, rep)
			}
		})
	}
	s.run("publish --prebuilt joins the platforms", func(t *testing.T) {
		w.t = t
		rep := w.phase(src2, "publish", "--version", "1.1.0", "--prebuilt")
		if rep.get("finalize commit") != fin {
			t.Errorf("the join finalized again: %s, want %s", rep.get("finalize commit"), fin)
		}
		for p, d := range digests {
			if !strings.HasSuffix(rep.get(p), d) {
				t.Errorf("the join used %s for %s; the runner pushed %s", rep.get(p), p, d)
			}
		}
		w.platformsReadBack("1.1.0")
		if idx2 = w.digest("1.1.0"); idx2 == "" {
			t.Fatal("no 1.1.0 index after the join")
		}
	})
	s.run("promote 1.1.0", func(t *testing.T) {
		w.t = t
		w.smokeTestPasses("1.1.0", idx2)
		w.must("", "promote", "--version", "1.1.0")
		if got := w.digest("latest"); got != idx2 {
			t.Fatalf("latest is %q after promoting 1.1.0, want %s", got, idx2)
		}
	})
	s.run("rollback --dry-run changes nothing", func(t *testing.T) {
		w.t = t
		before := w.snapshot("1.0.0", "1.1.0")
		w.must("", "rollback", "--version", "1.0.0", "--dry-run")
		w.unchanged("rollback --dry-run", before, "1.0.0", "1.1.0")
	})
	s.run("rollback", func(t *testing.T) {
		w.t = t
		w.phase("", "rollback", "--version", "1.0.0")
		if got := w.digest("latest"); got != idx1 {
			t.Fatalf("latest is %q after rolling back to 1.0.0, want %s", got, idx1)
		}
	})
}

type callError struct {
	err    error
	stderr string
}

func (e *callError) Error() string {
	lines := strings.Split(strings.TrimSpace(e.stderr), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return e.err.Error() + "\n" + strings.Join(lines, "\n")
}

func (e *callError) Unwrap() error { return e.err }

// checkout writes branch's tree and .git/HEAD into dir, as a clean checkout looks.
// markReady plays the maintainer who marks the release PR of ver ready for review: publish
// refuses a draft.
func (w *world) markReady(ver string) {
	for _, p := range w.gh.Pulls(repo) {
		if p.Head == "release/"+ver {
			w.gh.MarkReady(repo, p.Number)
			return
		}
	}
	w.t.Fatalf("no release PR for %s", ver)
}

func checkout(t *testing.T, ctx context.Context, gh *githubserver.Server, branch, dir string) {
	t.Helper()
	c, err := github.New(github.Options{BaseURL: gh.APIURL(), Token: ghToken})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := config.ParseRepo(repo)
	if err != nil {
		t.Fatal(err)
	}
	r := github.Repo{Owner: cr.Owner, Name: cr.Name}
	sha, ok := gh.Ref(repo, "refs/heads/"+branch)
	if !ok {
		t.Fatalf("no branch %s", branch)
	}
	tree, err := c.CommitTree(ctx, r, sha)
	if err != nil {
		t.Fatal(err)
	}
	for path := range tree {
		b, _, err := c.FileAt(ctx, r, sha, path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, path)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte(sha+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
