package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/shipgate/shipgate/pipeline/config"
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

	mu     sync.Mutex
	builds []string
}

var _ release.Builder = (*Builder)(nil)

// Builds lists what was built, "linux/amd64@<commit>" each, in order.
func (b *Builder) Builds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.builds...)
}

// Build implements release.Builder.
func (b *Builder) Build(ctx context.Context, p version.Platform, spec release.BuildSpec) (string, error) {
	epoch := time.Unix(0, 0).UTC()
	base, err := layer(map[string]string{"etc/os-release": "NAME=scratch\n"})
	if err != nil {
		return "", err
	}
	app, err := layer(map[string]string{"app": fmt.Sprintf("binary for %s built from %s\n", p, spec.Commit)})
	if err != nil {
		return "", err
	}
	docs, err := layer(map[string]string{spec.ChangelogPath: string(spec.Changelog)})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, base, app, docs)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	if b.Mislabel[p.String()] {
		cfg.OS, cfg.Architecture, cfg.Variant = "linux", "amd64", ""
	}
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{"/app"}
	cfg.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cfg)
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
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: b.Username, Password: b.Password})); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
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
	for _, path := range config.SortedKeys(files) {
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
