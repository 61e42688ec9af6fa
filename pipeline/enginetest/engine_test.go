package enginetest

// Running these tests needs a Dagger v0.21.8 engine and its CLI:
//
//	_EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://dagger-engine-v0.21.8   # the engine
//	_EXPERIMENTAL_DAGGER_CLI_BIN=/usr/local/bin/dagger                          # optional; default: dagger on PATH
//	SHIPGATE_E2E_HOST=172.17.0.1   # an address of this machine that both the engine and the containers
//	                               # of module functions reach (the engine's bridge gateway)
//
// The registry and the GitHub API server listen on SHIPGATE_E2E_HOST; the engine must be allowed
// plain HTTP to that registry (engine.toml: [registry."172.17.0.1:PORT"] http = true, or
// SHIPGATE_E2E_REGISTRY_PORT to use a fixed port you configured). Without
// _EXPERIMENTAL_DAGGER_RUNNER_HOST every test here skips.

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/version"
)

const (
	repo      = "acme/tiny"
	ghToken   = "ghs_engineTestToken000001"
	downToken = "ghs_engineTestDown000002"
	cosignPW  = "engine-test-key-password"
)

func engine(t *testing.T) (cli, host string) {
	t.Helper()
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		t.Skip("no Dagger engine: set _EXPERIMENTAL_DAGGER_RUNNER_HOST (and SHIPGATE_E2E_HOST) to run the engine-backed tests")
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

func TestPublishAndPromoteThroughTheModule(t *testing.T) {
	cli, host := engine(t)
	ctx := context.Background()

	// Registry, reachable by the engine (pushes) and the function containers (reads, signatures).
	rl := listen(t, host, os.Getenv("SHIPGATE_E2E_REGISTRY_PORT"))
	regSrv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go func() { _ = regSrv.Serve(rl) }()
	t.Cleanup(func() { _ = regSrv.Close() })
	regHost := rl.Addr().String()
	image := regHost + "/acme/tiny"

	gl := listen(t, host, "0")
	gl.Close()
	gh := githubserver.New(githubserver.Options{Addr: gl.Addr().String(), EagerMergeability: true})
	t.Cleanup(gh.Close)
	// One binary per platform: the Dockerfile picks by TARGETARCH.
	gh.AddRepo(repo, githubserver.RepoOptions{Files: map[string]string{
		"Dockerfile":   "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n",
		"app-amd64":    string(tinyApp(t, "amd64")),
		"app-arm64":    string(tinyApp(t, "arm64")),
		"CHANGELOG.md": "# Changelog\n\n## [Unreleased]\n\n- First tiny release.\n",
	}})
	gh.AddRepo("acme/smoke", githubserver.RepoOptions{})
	gh.AddToken(ghToken, "bot", map[string]githubserver.Perm{repo: githubserver.PermPush})
	gh.AddToken(downToken, "smoke", map[string]githubserver.Perm{"acme/smoke": githubserver.PermPush})

	keyDir := t.TempDir()
	cosign := os.Getenv("SHIPGATE_COSIGN")
	if cosign == "" {
		cosign = "cosign"
	}
	kg := exec.Command(cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(keyDir, "cosign"))
	kg.Env = append(os.Environ(), "COSIGN_PASSWORD="+cosignPW)
	if b, err := kg.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, b)
	}
	key, _ := os.ReadFile(filepath.Join(keyDir, "cosign.key"))

	call := func(src string, fn ...string) (string, error) {
		args := []string{"call", "--progress", "plain",
			"--repo", repo, "--image", image, "--github-api", gh.APIURL(), "--plain-http", regHost, "--plain-http", strings.TrimPrefix(gh.URL(), "http://"),
			"--github-token", "env:SG_GH", "--downstream", "acme/smoke", "--downstream-token", "env:SG_DOWN",
			"--sign", "key", "--no-tlog-upload", "--signing-key", "env:SG_KEY", "--signing-password", "env:SG_PW",
			"--verify-key", filepath.Join(keyDir, "cosign.pub"), "--no-sbom"}
		if src != "" {
			args = append(args, "--source", src)
		}
		cmd := exec.CommandContext(ctx, cli, append(args, fn...)...)
		cmd.Dir = moduleDir(t)
		cmd.Env = append(os.Environ(), "SG_GH="+ghToken, "SG_DOWN="+downToken, "SG_KEY="+string(key), "SG_PW="+cosignPW)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		for _, s := range []string{ghToken, downToken, cosignPW} {
			if strings.Contains(out.String(), s) || strings.Contains(errb.String(), s) {
				t.Errorf("a secret appeared in dagger's output")
			}
		}
		if err != nil {
			return out.String(), &callError{err: err, stderr: errb.String()}
		}
		return out.String(), nil
	}

	if out, err := call("", "prepare", "--version", "1.0.0"); err != nil {
		t.Fatalf("prepare: %v\n%s", err, out)
	}
	src := t.TempDir()
	checkout(t, ctx, gh, "release/1.0.0", src)
	out, err := call(src, "publish", "--version", "1.0.0")
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}

	reg := registry.New(registry.WithInsecureHosts(regHost))
	chk, err := reg.CheckIndex(ctx, image, version.MustParse("1.0.0"), version.DefaultPlatforms)
	if err != nil || !chk.OK() {
		t.Fatalf("index after publish: %v %v", err, chk.Problems)
	}
	// The engine mislabels scratch arm64 builds; the read-back must show the real platform.
	for _, p := range version.DefaultPlatforms {
		img, err := reg.Image(ctx, image, version.MustParse("1.0.0").ArchTag(p))
		if err != nil || !img.Platform.Equal(p) {
			t.Fatalf("%s image config says %s (%v)", p, img.Platform, err)
		}
	}

	gh.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.0.0", Prerelease: true, Body: "tested " + chk.Digest.String()})
	if out, err := call("", "promote", "--version", "1.0.0"); err != nil {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	// latest must hold exactly the index that passed the gates (no re-wrapping).
	plan, err := reg.PlanTags(ctx, image, version.MustParse("1.0.0"), chk.Digest, registry.TagOptions{})
	if err != nil || len(plan.Already) == 0 || plan.Already[0] != registry.LatestTag {
		t.Fatalf("latest is not at %s after promote: %v %+v", chk.Digest, err, plan)
	}
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

// checkout writes branch's tree and .git/HEAD into dir, as a clean checkout looks.
func checkout(t *testing.T, ctx context.Context, gh *githubserver.Server, branch, dir string) {
	t.Helper()
	c, err := github.New(github.Options{BaseURL: gh.APIURL(), Token: ghToken})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := github.ParseRepo(repo)
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
