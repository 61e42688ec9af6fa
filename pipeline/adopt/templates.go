package adopt

import "strings"

// The templates are README's caller examples ("Adopting shipgate in a project") with the
// project's settings in place of the placeholders @@NAME@@ (see Render). Every value that replaces
// one has been validated to hold no quote, space, newline or `$`, so none can change the YAML or
// the shell around it.

// trigger is what every caller starts with after its name: a manual dispatch with the version to
// release (its description versionHelp), further inputs (whole lines) and, with dryRun, a dry_run
// switch; then the empty workflow permissions, up to the one job.
func trigger(versionHelp string, dryRun bool, inputs ...string) string {
	s := "on:\n  workflow_dispatch:\n    inputs:\n      version: { description: \"" + versionHelp + "\", required: true, type: string }\n"
	for _, in := range inputs {
		s += in
	}
	if dryRun {
		s += "      dry_run: { type: boolean, default: false }\n"
	}
	return s + "permissions: {}\njobs:\n"
}

// candidateInput is publish's switch for a release candidate (publish --candidate).
const candidateInput = "      candidate: { description: \"the next release candidate X.Y.Z-rc.N\", type: boolean, default: false }\n"

// publishPromoteWith is what the publish and promote callers hand their reusable workflow: the
// two take the same inputs.
const publishPromoteWith = `    with:
      version: ${{ inputs.version }}
      dry_run: ${{ inputs.dry_run }}
      module: @@MODULE@@
      image: @@IMAGE@@
      sign: @@SIGN@@
      downstream: ${{ vars.SHIPGATE_DOWNSTREAM }}
      app-client-id: ${{ vars.SHIPGATE_APP_CLIENT_ID }}
    secrets: inherit
`

var publishTemplate = `# Phase 1 — publish @@REPO@@ with shipgate @@MODULE_VERSION@@ (written by ` + "`dagger call init`" + `; shipgate's
# README "Adopting shipgate in a project"). Dispatch it on the release branch:
#   gh workflow run release.yml --ref release/X.Y.Z -f version=X.Y.Z
# Its secrets live in the environment release-publish (deployment branches: release/* only).
name: release
` + trigger("X.Y.Z (run on branch release/X.Y.Z)", true, candidateInput) + `  publish:
    if: github.ref == format('refs/heads/release/{0}', inputs.version)
    permissions: { contents: read, packages: write, id-token: write }
    uses: @@PUBLISH_USES@@ # @@MODULE_VERSION@@
` + strings.Replace(publishPromoteWith, "      dry_run:", "      candidate: ${{ inputs.candidate }}\n      dry_run:", 1)

var promoteTemplate = `# Phase 2 — promote @@REPO@@ with shipgate @@MODULE_VERSION@@ (written by ` + "`dagger call init`" + `; shipgate's
# README "Adopting shipgate in a project"). Dispatch it on the default branch after inspecting:
#   gh workflow run promote-release.yml -f version=X.Y.Z
# Its secrets live in the environment release (default branch only, with required reviewers).
name: promote-release
` + trigger("X.Y.Z", true) + `  promote:
    if: github.ref == format('refs/heads/{0}', github.event.repository.default_branch)
    permissions: { contents: read, packages: write }
    uses: @@PROMOTE_USES@@ # @@MODULE_VERSION@@
` + publishPromoteWith

var prepareTemplate = `# Open release/X.Y.Z of @@REPO@@ with shipgate @@MODULE_VERSION@@ (written by ` + "`dagger call init`" + `; shipgate's
# README "Adopting shipgate in a project"): the branch, its CHANGELOG section, a draft release PR.
#   gh workflow run prepare-release.yml -f version=X.Y.Z
# Its secrets live in the environment release-prepare (default branch only).
name: prepare-release
` + trigger("X.Y.Z", false) + `  prepare:
    if: github.ref == format('refs/heads/{0}', github.event.repository.default_branch)
    permissions: { contents: read }
    uses: @@PREPARE_USES@@ # @@MODULE_VERSION@@
    with:
      version: ${{ inputs.version }}
      module: @@MODULE@@
      image: @@IMAGE@@
      app-client-id: ${{ vars.SHIPGATE_APP_CLIENT_ID }}
    secrets: inherit
`

// justfileTemplate runs the phases from a laptop, in this checkout, with only the Dagger CLI:
// no Go, no shipgate checkout, no script of shipgate's. It must pass pipeline/workflowcheck's
// Justfile check: no recipe argument is ever pasted into a shell line.
var justfileTemplate = `# Release @@REPO@@ with shipgate @@MODULE_VERSION@@ from a laptop (written by ` + "`dagger call init`" + `; shipgate's
# README "Running from a laptop"). Needs only the Dagger CLI v0.21.8 and a container engine:
#
#   export SHIPGATE_GITHUB_TOKEN=... REGISTRY_USERNAME=you REGISTRY_PASSWORD=...
#   just status 1.4.0                  # what exists for 1.4.0 and which promote gates pass
#   DRY_RUN=true just publish 1.4.0    # the plan only
#
# Settings come from the environment: REGISTRY_USERNAME/REGISTRY_PASSWORD, SHIPGATE_GITHUB_TOKEN,
# DOWNSTREAM + SHIPGATE_DOWNSTREAM_TOKEN, SIGN (default @@SIGN@@; publish from a laptop cannot sign
# keyless: use key, or DRY_RUN), COSIGN_KEY/COSIGN_PASSWORD/COSIGN_PUB (key mode; COSIGN_PUB
# defaults to cosign.pub), IMAGE, DRY_RUN=true, SHIPGATE_FORMAT (default text), SHIPGATE_MODULE
# (default the pinned module below) and SHIPGATE_EXTRA_ARGS: more module flags, e.g.
# --github-api https://ghe.example.com/api/v3/ or --plain-http registry.internal:5000, split on
# spaces and never evaluated. Secrets reach dagger as env:NAME references, never as values.
#
# Every recipe argument reaches its recipe as "$1" and is only ever used quoted: a version is
# never pasted into a shell line.
set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

export SHIPGATE_MODULE := env_var_or_default("SHIPGATE_MODULE", "@@MODULE@@")
export SHIPGATE_REPO := "@@REPO@@"
export SHIPGATE_IMAGE := env_var_or_default("IMAGE", "@@IMAGE@@")
export SHIPGATE_SIGN := env_var_or_default("SIGN", "@@SIGN@@")
# Keyless: only signatures made by shipgate's reusable publish workflow for this repository count.
export SHIPGATE_WORKFLOW := "@@PUBLISH_WORKFLOW@@"

default:
    @just --list

# Open release/VERSION: the branch, its CHANGELOG section and a draft release PR (DRY_RUN=true: plan only).
prepare VERSION: (_version VERSION) (_shipgate "prepare" VERSION)

# Phase 1: build, push, sign and draft VERSION, never latest (DRY_RUN=true: plan only).
publish VERSION: (_version VERSION) (_shipgate "publish" VERSION)

# Show what exists for VERSION and which promote gates pass; changes nothing.
status VERSION: (_version VERSION) (_shipgate "status" VERSION)

# Phase 2: check every gate, then move latest to VERSION (DRY_RUN=true: gates only).
promote VERSION: (_version VERSION) (_shipgate "promote" VERSION)

# Move latest back to an earlier promoted VERSION (DRY_RUN=true: plan only).
rollback VERSION: (_version VERSION) (_shipgate "rollback" VERSION)

# Refuse a malformed version before dagger starts: X.Y.Z or X.Y.Z-PRERELEASE (the module checks it
# again, fully).
_version VERSION:
    @re='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'; \
      if [ "${#1}" -gt 64 ] || ! [[ "$1" =~ $re ]]; then \
        printf '%s\n' "version '${1:0:80}' is not X.Y.Z or X.Y.Z-PRERELEASE (for example 1.4.0 or 1.4.0-rc.1)" >&2; exit 1; \
      fi

# Call shipgate's FUNCTION for VERSION with this repository's settings, --source this checkout.
_shipgate FUNCTION VERSION:
    #!/usr/bin/env bash
    set -euo pipefail
    fn=$1
    version=$2
    command -v dagger >/dev/null || { echo "dagger not found: install the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine" >&2; exit 1; }
    args=(--source . --repo "$SHIPGATE_REPO" --image "$SHIPGATE_IMAGE" --format "${SHIPGATE_FORMAT:-text}")
` + indent(settingsArgs, "    ") + `    sign=$SHIPGATE_SIGN
    case "$sign" in
      keyless) args+=(--sign keyless --workflow "$SHIPGATE_WORKFLOW") ;;
` + indent(signArgs, "    ") + `    fn_args=(--version "$version")
    if [ "${DRY_RUN:-false}" = "true" ] && [ "$fn" != "status" ]; then
      fn_args+=(--dry-run)
    fi
    echo "shipgate: dagger -m $SHIPGATE_MODULE call ... $fn ${fn_args[*]} in $PWD" >&2
    exec dagger -m "$SHIPGATE_MODULE" call "${args[@]}" "$fn" "${fn_args[@]}"
`

const changelogTemplate = `# Changelog

All notable changes to this project are documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),
and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).

## [Unreleased]
`
