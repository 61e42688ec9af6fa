package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/imagescan"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/version"
)

// engineBuilder builds and pushes platform images with the Dagger engine and makes their SBOMs
// with syft; it is the engine half of release.Builder.
type engineBuilder struct {
	m     *Shipgate
	syft  string
	grype string // the scanner image of --scan
	built map[string]*dagger.Container
}

func (m *Shipgate) builder(syftImage, grypeImage string) *engineBuilder {
	return &engineBuilder{m: m, syft: syftImage, grype: grypeImage, built: map[string]*dagger.Container{}}
}

// Build builds platform p from the source tree with the finalized CHANGELOG written in (exactly
// the finalize commit's tree), labels it with the commit, and pushes it with its per-arch tag.
func (b *engineBuilder) Build(ctx context.Context, p version.Platform, spec release.BuildSpec) (string, error) {
	ctr, err := b.container(ctx, p, spec)
	if err != nil {
		return "", err
	}
	m := b.m
	if m.RegistryPassword != nil {
		host, _, _ := strings.Cut(spec.Image, "/")
		ctr = ctr.WithRegistryAuth(host, m.RegistryUsername, m.RegistryPassword)
	}
	// Always an explicit per-arch tag: a push without one would mean latest.
	ref, err := ctr.Publish(ctx, spec.Image+":"+spec.Tag)
	if err != nil {
		return "", fmt.Errorf("push %s:%s: %w", spec.Image, spec.Tag, err)
	}
	_, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return "", fmt.Errorf("push %s:%s returned %q without a digest", spec.Image, spec.Tag, ref)
	}
	b.built[p.String()] = ctr
	return digest, nil
}

// TestImage runs argv in platform p's image, built as Build builds it, before anything is
// pushed (--test). The engine caches the build, so the push after it builds nothing again.
func (b *engineBuilder) TestImage(ctx context.Context, p version.Platform, spec release.BuildSpec, argv []string) (release.TestResult, error) {
	ctr, err := b.container(ctx, p, spec)
	if err != nil {
		return release.TestResult{}, err
	}
	run := ctr.WithExec(argv, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := run.ExitCode(ctx)
	if err != nil {
		return release.TestResult{}, fmt.Errorf("run in the %s image: %w", p, err)
	}
	out, err := run.CombinedOutput(ctx)
	if err != nil {
		return release.TestResult{}, fmt.Errorf("read the output in the %s image: %w", p, err)
	}
	return release.TestResult{ExitCode: code, Output: out}, nil
}

// PlatformImage hands over platform p's image, built as Build builds it, before anything is
// pushed: the engine writes it as an OCI archive into this function's container, where publish
// scans its files. The layers are written uncompressed: the scan then skips the bodies of the
// files it does not check instead of inflating every byte, so it costs less than the push (a
// refusal names the uncompressed layer's digest, its diff ID).
func (b *engineBuilder) PlatformImage(ctx context.Context, p version.Platform, spec release.BuildSpec) (v1.Image, func(), error) {
	ctr, err := b.container(ctx, p, spec)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "shipgate-image-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "image.tar")
	if _, err := ctr.AsTarball(dagger.ContainerAsTarballOpts{ForcedCompression: dagger.ImageLayerCompressionUncompressed}).Export(ctx, path); err != nil {
		return nil, nil, fmt.Errorf("export the %s image: %w", p, err)
	}
	return imagescan.OpenOCIArchive(path)
}

// container builds platform p from the finalized tree, for its platform, with spec's labels.
func (b *engineBuilder) container(ctx context.Context, p version.Platform, spec release.BuildSpec) (*dagger.Container, error) {
	m := b.m
	files := map[string][]byte{}
	if spec.Changelog != nil { // a candidate's build leaves the CHANGELOG as it is
		files[spec.ChangelogPath] = spec.Changelog
		for _, c := range spec.Copies {
			files[c] = spec.Changelog
		}
	}
	maps.Copy(files, spec.Files)
	tree := withFiles(m.Source, files)
	args, err := config.ParseBuildArgs(m.BuildArgs)
	if err != nil {
		return nil, err
	}
	var bargs []dagger.BuildArg
	for _, k := range slices.Sorted(maps.Keys(args)) {
		bargs = append(bargs, dagger.BuildArg{Name: k, Value: args[k]})
	}
	ctr := tree.DockerBuild(dagger.DirectoryDockerBuildOpts{Platform: dagger.Platform(p.String()), Dockerfile: m.Dockerfile, BuildArgs: bargs})
	// The v0.21.8 engine reports FROM scratch builds for arm64 as linux/amd64 and would publish
	// them so: re-wrap such a build for its platform. The registry reads every pushed config back
	// and refuses a platform that is still wrong.
	got, err := ctr.Platform(ctx)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", p, err)
	}
	if gp, perr := version.ParsePlatform(string(got)); perr != nil || !gp.Equal(p) {
		if ctr, err = rewrap(ctx, ctr, p); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
		ctr = ctr.WithLabel(k, spec.Labels[k])
	}
	return ctr, nil
}

// namedValue is what the engine reports as a name and a value: an environment variable, a label.
type namedValue[T any] interface {
	*T
	Name(context.Context) (string, error)
	Value(context.Context) (string, error)
}

// eachPair hands every item's name and value to set, in order.
func eachPair[T any, P namedValue[T]](ctx context.Context, items []T, set func(k, v string)) error {
	for i := range items {
		k, err := P(&items[i]).Name(ctx)
		if err != nil {
			return err
		}
		v, err := P(&items[i]).Value(ctx)
		if err != nil {
			return err
		}
		set(k, v)
	}
	return nil
}

// rewrap puts a build's root filesystem into a container of the right platform and re-applies the
// image config the re-wrap drops: entrypoint, default args, environment, labels, workdir, user and
// exposed ports.
func rewrap(ctx context.Context, built *dagger.Container, p version.Platform) (*dagger.Container, error) {
	c := dag.Container(dagger.ContainerOpts{Platform: dagger.Platform(p.String())}).WithRootfs(built.Rootfs())
	envs, err := built.EnvVariables(ctx)
	if err != nil {
		return nil, err
	}
	if err := eachPair(ctx, envs, func(k, v string) { c = c.WithEnvVariable(k, v) }); err != nil {
		return nil, fmt.Errorf("re-wrap %s: read environment: %w", p, err)
	}
	labels, err := built.Labels(ctx)
	if err != nil {
		return nil, err
	}
	if err := eachPair(ctx, labels, func(k, v string) { c = c.WithLabel(k, v) }); err != nil {
		return nil, fmt.Errorf("re-wrap %s: read labels: %w", p, err)
	}
	if ep, err := built.Entrypoint(ctx); err != nil {
		return nil, err
	} else if len(ep) > 0 {
		c = c.WithEntrypoint(ep)
	}
	if args, err := built.DefaultArgs(ctx); err != nil {
		return nil, err
	} else if len(args) > 0 {
		c = c.WithDefaultArgs(args)
	}
	if wd, err := built.Workdir(ctx); err != nil {
		return nil, err
	} else if wd != "" {
		c = c.WithWorkdir(wd)
	}
	if u, err := built.User(ctx); err != nil {
		return nil, err
	} else if u != "" {
		c = c.WithUser(u)
	}
	ports, err := built.ExposedPorts(ctx)
	if err != nil {
		return nil, err
	}
	for _, pt := range ports {
		n, err1 := pt.Port(ctx)
		proto, err2 := pt.Protocol(ctx)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("re-wrap %s: read ports: %v %v", p, err1, err2)
		}
		c = c.WithExposedPort(n, dagger.ContainerWithExposedPortOpts{Protocol: proto})
	}
	return c, nil
}

// SBOM runs syft on the platform image as an OCI archive, so syft needs no registry credentials.
func (b *engineBuilder) SBOM(ctx context.Context, p version.Platform, ref string) ([]byte, error) {
	m := b.m
	img, ok := b.built[p.String()]
	if !ok {
		img = dag.Container(dagger.ContainerOpts{Platform: dagger.Platform(p.String())})
		if m.RegistryPassword != nil {
			host, _, _ := strings.Cut(ref, "/")
			img = img.WithRegistryAuth(host, m.RegistryUsername, m.RegistryPassword)
		}
		img = img.From(ref)
	}
	syft := b.syft
	if syft == "" {
		syft = config.DefaultSyftImage
	}
	out, err := dag.Container().From(syft).
		WithMountedFile("/work/image.tar", img.AsTarball()).
		WithExec([]string{"/syft", "scan", "oci-archive:/work/image.tar", "--output", "spdx-json", "--quiet"}).
		Stdout(ctx)
	if err != nil {
		return nil, fmt.Errorf("syft (%s) on %s: %w", syft, ref, err)
	}
	return []byte(out), nil
}

// withFiles is dir with files (path → content) written in, in a stable order.
func withFiles(dir *dagger.Directory, files map[string][]byte) *dagger.Directory {
	for _, path := range slices.Sorted(maps.Keys(files)) {
		dir = dir.WithNewFile(path, string(files[path]))
	}
	return dir
}

// RunFinalize implements release.Finalizer: spec.Argv runs in spec.Image with the source tree (and
// spec.Files) at /src; the changes are read back from the engine's changeset of that directory.
func (b *engineBuilder) RunFinalize(ctx context.Context, spec release.FinalizeSpec) (release.FinalizeResult, error) {
	before := withFiles(b.m.Source, spec.Files)
	ctr := dag.Container().From(spec.Image).
		WithDirectory("/src", before).WithWorkdir("/src").
		WithExec(spec.Argv, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return release.FinalizeResult{}, err
	}
	out, _ := ctr.CombinedOutput(ctx)
	res := release.FinalizeResult{ExitCode: code, Output: out, Changed: map[string][]byte{}}
	if code != 0 {
		return res, nil
	}
	changes := ctr.Directory("/src").Changes(before)
	if res.Removed, err = changes.RemovedPaths(ctx); err != nil {
		return res, err
	}
	added, err := changes.AddedPaths(ctx)
	if err != nil {
		return res, err
	}
	modified, err := changes.ModifiedPaths(ctx)
	if err != nil {
		return res, err
	}
	after := ctr.Directory("/src")
	for _, path := range append(added, modified...) {
		if strings.HasSuffix(path, "/") {
			continue // a directory: its files are listed themselves
		}
		body, err := after.File(path).Contents(ctx)
		if err != nil {
			return res, fmt.Errorf("read %s after --finalize-command: %w", path, err)
		}
		res.Changed[path] = []byte(body)
	}
	return res, nil
}

// ScanImage implements release.VulnScanner: the pinned grype image reads platform p's image, built
// as Build builds it and handed over as an OCI archive, and prints its JSON report (no --fail-on:
// pipeline/vulnscan decides). grype's vulnerability database is kept in a cache volume between
// runs.
func (b *engineBuilder) ScanImage(ctx context.Context, p version.Platform, spec release.BuildSpec) ([]byte, error) {
	ctr, err := b.container(ctx, p, spec)
	if err != nil {
		return nil, err
	}
	out, err := dag.Container().From(b.grype).
		WithMountedCache("/grype-db", dag.CacheVolume("shipgate-grype-db")).
		WithEnvVariable("GRYPE_DB_CACHE_DIR", "/grype-db").
		WithMountedFile("/image.tar", ctr.AsTarball(dagger.ContainerAsTarballOpts{ForcedCompression: dagger.ImageLayerCompressionUncompressed})).
		WithExec([]string{"/grype", "oci-archive:/image.tar", "-o", "json"}).
		Stdout(ctx)
	if err != nil {
		return nil, fault.Unreachablef("grype (%s) over the %s image: %v: check that the engine can pull it and reach grype's database", b.grype, p, err)
	}
	return []byte(out), nil
}
