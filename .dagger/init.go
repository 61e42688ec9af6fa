package main

import (
	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/adopt"
)

// Init writes the files a project needs to release itself with shipgate, as a directory to export.
//
// The directory holds the three caller workflows (.github/workflows/release.yml,
// promote-release.yml, prepare-release.yml) pinned to --module-ref, a justfile that runs every
// phase from a laptop in the project's checkout with only the Dagger CLI and, with
// --with-changelog, a CHANGELOG.md skeleton. It writes nothing itself, and `export` overwrites
// files of the same name: export to an empty directory first and compare, e.g.
//
//	dagger call -m github.com/shipgate/shipgate@<sha> init --repo acme/app \
//	  --module-ref github.com/shipgate/shipgate@<sha> --module-version v1.0.0 \
//	  export --path /tmp/shipgate-init
//
// The files are rendered and checked by pipeline/adopt; this function only packs them.
// +cache="never"
func (m *Shipgate) Init(
	// GitHub repository of the project, owner/name, e.g. acme/app.
	repo string,
	// This shipgate module pinned to a full commit, github.com/shipgate/shipgate@<40-hex sha>:
	// the workflows' uses: and module: and the justfile's dagger -m all run exactly it.
	moduleRef string,
	// The shipgate release that commit is, e.g. v1.0.0 (the comment next to each pin).
	moduleVersion string,
	// Image repository without tag (default ghcr.io/<owner>/<name>, lower-cased).
	// +optional
	image string,
	// Signing mode the workflows and the justfile use: keyless, key or none.
	// +optional
	// +default="keyless"
	sign string,
	// Also write a CHANGELOG.md skeleton in Keep a Changelog format, with an Unreleased section.
	// +optional
	withChangelog bool,
) (*dagger.Directory, error) {
	files, err := adopt.Render(adopt.Options{
		Repo: repo, Image: image, ModuleRef: moduleRef, ModuleVersion: moduleVersion,
		Sign: sign, Changelog: withChangelog,
	})
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	for _, f := range files {
		dir = dir.WithNewFile(f.Path, f.Content)
	}
	return dir, nil
}
