package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Builder builds a small scratch-style image per platform in memory — a base layer shared by all
// platforms, an application layer per platform, and the finalized CHANGELOG — and pushes it with
// the per-arch tag, as the Dagger engine does. It implements release.Builder.
type Builder struct {
	Username, Password string
	// Insecure pushes over plain HTTP (the sandbox registry).
	Insecure bool
	// Mislabel makes the image of these platforms claim linux/amd64 in its config, as the v0.21.8
	// engine does for scratch arm64 builds.
	Mislabel map[string]bool
	// Exec plays a command run in a built image (--test); nil runs RunInImage.
	Exec func(p version.Platform, argv []string) release.TestResult
	// Stale plays a Dockerfile that copies an old CHANGELOG into the image: these files are
	// added to every image as they are (path → content).
	Stale map[string]string
	// Finalize plays --finalize-command: given the files written into the tree and the command,
	// what it does. nil: the sandbox runs no finalize command (RunFinalize fails).
	Finalize func(files map[string][]byte, argv []string) release.FinalizeResult
	// Scan plays grype over a platform image (--scan): the JSON report it returns. nil: the
	// sandbox runs no scanner (ScanImage fails).
	Scan func(p version.Platform) []byte

	mu     sync.Mutex
	builds []string
	tests  []string
	// regs are the registry clients Build pushes with, one per registry host: the release's own
	// stack (plain-HTTP guard, retries, one auth handshake per host).
	regs map[string]*registry.Client
}

var (
	_ release.Builder     = (*Builder)(nil)
	_ release.Prover      = (*Builder)(nil)
	_ release.ImageSource = (*Builder)(nil)
	_ release.Finalizer   = (*Builder)(nil)
	_ release.VulnScanner = (*Builder)(nil)
)

// ScanImage implements release.VulnScanner through the Scan hook.
func (b *Builder) ScanImage(ctx context.Context, p version.Platform, spec release.BuildSpec) ([]byte, error) {
	if b.Scan == nil {
		return nil, fmt.Errorf("the sandbox builder plays no scanner (set Builder.Scan)")
	}
	return b.Scan(p), nil
}

// RunFinalize implements release.Finalizer through the Finalize hook.
func (b *Builder) RunFinalize(ctx context.Context, spec release.FinalizeSpec) (release.FinalizeResult, error) {
	if b.Finalize == nil {
		return release.FinalizeResult{}, fmt.Errorf("the sandbox builder plays no --finalize-command (set Builder.Finalize)")
	}
	return b.Finalize(spec.Files, spec.Argv), nil
}

// PlatformImage implements release.ImageSource: the image Build would push.
func (b *Builder) PlatformImage(ctx context.Context, p version.Platform, spec release.BuildSpec) (v1.Image, func(), error) {
	img, err := b.image(p, spec)
	return img, func() {}, err
}

// RunInImage is what the sandbox image does with a command: /app (the only binary in this
// scratch-style image) prints its platform and succeeds; anything else is not found, as in a
// FROM scratch container.
func RunInImage(p version.Platform, argv []string) release.TestResult {
	if argv[0] == "/app" {
		return release.TestResult{Output: fmt.Sprintf("app for %s: ok\n", p)}
	}
	return release.TestResult{ExitCode: 127, Output: fmt.Sprintf("exec %s: no such file or directory\n", argv[0])}
}

// TestImage implements release.Prover: it builds the image (without pushing) and plays argv in it.
func (b *Builder) TestImage(ctx context.Context, p version.Platform, spec release.BuildSpec, argv []string) (release.TestResult, error) {
	if _, err := b.image(p, spec); err != nil {
		return release.TestResult{}, err
	}
	b.mu.Lock()
	b.tests = append(b.tests, p.String()+" "+strings.Join(argv, " "))
	b.mu.Unlock()
	if b.Exec != nil {
		return b.Exec(p, argv), nil
	}
	return RunInImage(p, argv), nil
}

// Tests lists the commands TestImage ran, "linux/amd64 /app --version" each, in order.
func (b *Builder) Tests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.tests...)
}

// Builds lists what was built, "linux/amd64@<commit>" each, in order.
func (b *Builder) Builds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.builds...)
}

// Build implements release.Builder.
func (b *Builder) Build(ctx context.Context, p version.Platform, spec release.BuildSpec) (string, error) {
	img, err := b.image(p, spec)
	if err != nil {
		return "", err
	}
	var opts []name.Option
	if b.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(spec.Image+":"+spec.Tag, opts...)
	if err != nil {
		return "", err
	}
	reg := b.registryFor(ref.RegistryStr())
	if err := remote.Write(ref, img, reg.RemoteOptions(ctx)...); err != nil {
		return "", reg.Fail("pushing", ref.String(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.builds = append(b.builds, p.String()+"@"+spec.Commit)
	b.mu.Unlock()
	return d.String(), nil
}

// registryFor is the client Build pushes to host with: the builder's credentials,
// plain HTTP allowed to host only when the builder is Insecure. It is made once per host.
func (b *Builder) registryFor(host string) *registry.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.regs[host]; c != nil {
		return c
	}
	opts := []registry.Option{registry.WithAuth(b.Username, b.Password)}
	if b.Insecure {
		opts = append(opts, registry.WithInsecureHosts(host))
	}
	if b.regs == nil {
		b.regs = map[string]*registry.Client{}
	}
	b.regs[host] = registry.New(opts...)
	return b.regs[host]
}

// image builds platform p's image in memory: a base layer, the application, the CHANGELOG.
func (b *Builder) image(p version.Platform, spec release.BuildSpec) (v1.Image, error) {
	epoch := time.Unix(0, 0).UTC()
	base, err := layer(map[string]string{"etc/os-release": "NAME=scratch\n"})
	if err != nil {
		return nil, err
	}
	app, err := layer(map[string]string{"app": fmt.Sprintf("binary for %s built from %s\n", p, spec.Commit)})
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	if spec.Changelog != nil { // a candidate's build leaves the CHANGELOG as it is
		files[spec.ChangelogPath] = string(spec.Changelog)
		for _, c := range spec.Copies {
			files[c] = string(spec.Changelog)
		}
	}
	for path, body := range spec.Files {
		files[path] = string(body)
	}
	for path, body := range b.Stale {
		files[path] = body
	}
	docs, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, base, app, docs)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	if b.Mislabel[p.String()] {
		cfg.OS, cfg.Architecture, cfg.Variant = "linux", "amd64", ""
	}
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{"/app"}
	cfg.Config.Labels = spec.Labels
	return mutate.ConfigFile(img, cfg)
}

// SBOM implements release.Builder with a minimal SPDX 2.3 document naming the image.
func (b *Builder) SBOM(ctx context.Context, p version.Platform, ref string) ([]byte, error) {
	doc := map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": ref, "documentNamespace": "https://sandbox.shipgate.invalid/spdx/" + p.Suffix(),
		"creationInfo": map[string]any{"created": "1970-01-01T00:00:00Z", "creators": []string{"Tool: shipgate-sandbox"}},
		"packages":     []map[string]any{{"SPDXID": "SPDXRef-app", "name": "app", "versionInfo": p.String(), "downloadLocation": "NOASSERTION"}},
	}
	return json.Marshal(doc)
}

// layer is a deterministic uncompressed tar of files, gzipped by go-containerregistry.
func layer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, path := range slices.Sorted(maps.Keys(files)) {
		body := files[path]
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o755, Size: int64(len(body)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}
