# shipgate — developer and operator recipes. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Every recipe argument reaches its recipe as "$1", "$2", ... and is used only quoted: no value
# typed on the command line is ever pasted into a shell line (pipeline/workflowcheck's justfile
# check refuses `{{ PARAM }}` in a recipe body, and TestJustfileNeverRunsAnArgument proves it).
set positional-arguments

# Tools built by .ci/setup (cached by version); the tests and lint find them here. Looked up only by
# the recipes that need them, so the release recipes work outside this repository.
tools := 'export SHIPGATE_COSIGN="${SHIPGATE_COSIGN:-$(bash .ci/setup --env | sed -n "s/^export SHIPGATE_COSIGN=//p")}" SHIPGATE_ACTIONLINT="${SHIPGATE_ACTIONLINT:-$(bash .ci/setup --env | sed -n "s/^export SHIPGATE_ACTIONLINT=//p")}";'

# The release recipes run the module of this checkout (or SHIPGATE_MODULE, e.g.
# github.com/shipgate/shipgate@v1.2.0) through this checkout's .github/shipgate.sh, with --source
# the directory `just` was invoked from: `just -f ~/src/shipgate/justfile publish 1.2.0` from a
# project's checkout releases that project.
export SHIPGATE_MODULE := env_var_or_default("SHIPGATE_MODULE", justfile_directory())
shipgate_sh := quote(justfile_directory() / ".github" / "shipgate.sh")

# Fuzz budget per target in `just test`: an execution count, because a duration budget trips Go
# 1.26's fuzz coordinator race at the deadline (golang/go#75804: a spurious "context deadline
# exceeded" with no failing input). Raise it locally for a longer hunt (FUZZTIME=5000000x, or 60s).
export FUZZTIME := env_var_or_default("FUZZTIME", "150000x")

default:
    @just --list

# Everything CI checks: lint, generated code, build + vet of .dagger, all tests, fuzz, benchmarks once.
test: lint check-generated unit demo-smoke fuzz bench-smoke
    @echo "all checks passed"

# gofmt, go vet for both modules, workflow lint: our own check (pins, injection, environments and
# ref guards) of .github/workflows, the README's workflow examples and this justfile; actionlint +
# shellcheck of the workflows and of the README's examples; shellcheck of the scripts.
lint:
    @bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' | grep -v 'dagger.gen.go$') 2>/dev/null || true); \
      if [ -n "$bad" ]; then echo "gofmt would change: $bad"; exit 1; fi
    go vet ./...
    go -C .dagger build ./...
    go -C .dagger vet ./...
    go run ./pipeline/cmd/workflowcheck .github/workflows
    @{{tools}} test -x "$SHIPGATE_ACTIONLINT" || { echo "actionlint not found at $SHIPGATE_ACTIONLINT: run bash .ci/setup" >&2; exit 1; }
    @{{tools}} set -x && "$SHIPGATE_ACTIONLINT" -shellcheck shellcheck
    @{{tools}} d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && set -x && go run ./pipeline/cmd/workflowcheck -extract "$d" && "$SHIPGATE_ACTIONLINT" -shellcheck shellcheck "$d"/*.yml
    shellcheck .github/shipgate.sh .ci/run .ci/setup .ci/generate .ci/check-generated

# The root module's tests (pipeline); the packages with concurrency run again under the race detector.
# The race pass skips the interop tests that drive the stock cosign binary (named *Cosign*): they
# ran in the first pass, and the race detector sees nothing of another process.
unit:
    @{{tools}} set -x && SHIPGATE_REQUIRE_JUST=1 go test -count=1 ./...
    @{{tools}} set -x && go test -count=1 -race -skip 'Cosign' ./pipeline/step ./pipeline/github ./pipeline/registry ./pipeline/sign ./pipeline/release

# The README's first command must keep working.
demo-smoke:
    go run ./pipeline/cmd/demo > /dev/null

# Short fuzzing of every parser: one target per `go test -fuzz` run.
fuzz:
    go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$FUZZTIME" ./pipeline/version
    go test -run '^$' -fuzz '^FuzzParseGitTag$' -fuzztime "$FUZZTIME" ./pipeline/version
    go test -run '^$' -fuzz '^FuzzFinalize$' -fuzztime "$FUZZTIME" ./pipeline/changelog
    go test -run '^$' -fuzz '^FuzzFindTBD$' -fuzztime "$FUZZTIME" ./pipeline/changelog
    go test -run '^$' -fuzz '^FuzzHeadingStyle$' -fuzztime "$FUZZTIME" ./pipeline/changelog
    go test -run '^$' -fuzz '^FuzzCommit$' -fuzztime "$FUZZTIME" ./pipeline/source
    go test -run '^$' -fuzz '^FuzzParseRepo$' -fuzztime "$FUZZTIME" ./pipeline/config
    go test -run '^$' -fuzz '^FuzzParseImage$' -fuzztime "$FUZZTIME" ./pipeline/config
    go test -run '^$' -fuzz '^FuzzValidate$' -fuzztime "$FUZZTIME" ./pipeline/config
    go test -run '^$' -fuzz '^FuzzParseCommand$' -fuzztime "$FUZZTIME" ./pipeline/config
    go test -run '^$' -fuzz '^FuzzParseAge$' -fuzztime "$FUZZTIME" ./pipeline/config
    go test -run '^$' -fuzz '^FuzzParseModuleRef$' -fuzztime "$FUZZTIME" ./pipeline/adopt
    go test -run '^$' -fuzz '^FuzzValidateTag$' -fuzztime "$FUZZTIME" ./pipeline/registry
    go test -run '^$' -fuzz '^FuzzParseRepository$' -fuzztime "$FUZZTIME" ./pipeline/registry
    go test -run '^$' -fuzz '^FuzzParseDigest$' -fuzztime "$FUZZTIME" ./pipeline/registry
    go test -run '^$' -fuzz '^FuzzLegacyLayer$' -fuzztime "$FUZZTIME" ./pipeline/sign
    go test -run '^$' -fuzz '^FuzzParseIgnore$' -fuzztime "$FUZZTIME" ./pipeline/vulnscan
    go test -run '^$' -fuzz '^FuzzParseReport$' -fuzztime "$FUZZTIME" ./pipeline/vulnscan
    go test -run '^$' -fuzz '^FuzzRead$' -fuzztime "$FUZZTIME" ./pipeline/sigbundle

# Benchmarks once each, so CI proves they run; `just bench` measures for real.
bench-smoke:
    @{{tools}} set -x && SHIPGATE_IMAGESCAN_BENCH_MIB=64 go test -run '^$' -bench . -benchtime 1x ./...

# Benchmarks with requests/op and bytes/op.
bench:
    @{{tools}} set -x && go test -run '^$' -bench . -benchmem ./...

# Regenerate the Dagger module's code offline (codegen v0.21.8 + the schema in .ci/dagger), and
# .github/shipgate.sh from pipeline/adopt/script.go.
generate:
    bash .ci/generate
    SHIPGATE_UPDATE=1 go test ./pipeline/adopt -run TestActionsScriptIsCurrent

# Fail if the committed generated code is not what `just generate` writes.
check-generated:
    bash .ci/check-generated

# Run a whole release against local services (registry, GitHub API, throwaway key); no engine needed.
demo format="text":
    go run ./pipeline/cmd/demo -format "$1"

# The same demo inside the Dagger module (needs an engine).
demo-dagger:
    dagger call demo

# ---- Release recipes. Settings come from the environment: see README "Running from a laptop".
# They run in the directory `just` was invoked from ([no-cd]), so they work from any project's
# checkout: `just -f PATH/TO/shipgate/justfile publish 1.4.0`.

# Dispatch prepare-release.yml: branch release/VERSION, CHANGELOG section, draft PR.
[no-cd]
prepare-release VERSION: (_version VERSION) (_need "gh" "the GitHub CLI (https://cli.github.com), then gh auth login")
    @echo "dispatching prepare-release.yml for $1 on $(git remote get-url origin 2>/dev/null || echo 'this repository')"
    gh workflow run prepare-release.yml -f version="$1"

# Dispatch release.yml (publish) on release/VERSION; DRY_RUN=true to only print the plan.
[no-cd]
finalize-release VERSION: (_version VERSION) (_need "gh" "the GitHub CLI (https://cli.github.com), then gh auth login")
    @echo "dispatching release.yml (publish) for $1 on branch release/$1 (dry_run=${DRY_RUN:-false})"
    gh workflow run release.yml --ref "release/$1" -f version="$1" -f dry_run="${DRY_RUN:-false}"

# Dispatch promote-release.yml after inspecting the release; DRY_RUN=true to only check the gates.
[no-cd]
promote-release VERSION: (_version VERSION) (_need "gh" "the GitHub CLI (https://cli.github.com), then gh auth login")
    @echo "dispatching promote-release.yml for $1 (dry_run=${DRY_RUN:-false})"
    gh workflow run promote-release.yml -f version="$1" -f dry_run="${DRY_RUN:-false}"

# Run publish locally through Dagger with the same flags as CI (DRY_RUN=true: plan only).
[no-cd]
publish VERSION: (_version VERSION) (_need "dagger" "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine")
    @echo "publishing $1 from $(git rev-parse --short HEAD 2>/dev/null || echo "a tree without git") of $PWD with dagger -m $SHIPGATE_MODULE (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT="${SHIPGATE_FORMAT:-text}" bash {{shipgate_sh}} publish --version "$1"

# Run promote locally through Dagger (DRY_RUN=true: gates only).
[no-cd]
promote VERSION: (_version VERSION) (_need "dagger" "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine")
    @echo "promoting $1 with dagger -m $SHIPGATE_MODULE (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT="${SHIPGATE_FORMAT:-text}" bash {{shipgate_sh}} promote --version "$1"

# Show what exists for VERSION and which promote gates pass; changes nothing.
[no-cd]
status VERSION: (_version VERSION) (_need "dagger" "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine")
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT="${SHIPGATE_FORMAT:-text}" bash {{shipgate_sh}} status --version "$1"

# Move latest back to an earlier promoted VERSION (DRY_RUN=true: plan only).
[no-cd]
rollback VERSION: (_version VERSION) (_need "dagger" "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine")
    @echo "rolling latest back to $1 with dagger -m $SHIPGATE_MODULE (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT="${SHIPGATE_FORMAT:-text}" bash {{shipgate_sh}} rollback --version "$1"

# Refuse a malformed version before anything is dispatched: X.Y.Z or X.Y.Z-PRERELEASE (semver, no
# leading zeros, at most 64 characters). The module checks it again, fully; this only keeps a typo
# from reaching gh or dagger. Plain bash, so it works in any checkout.
[no-cd]
_version VERSION:
    @re='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'; \
      if [ "${#1}" -gt 64 ] || ! [[ "$1" =~ $re ]]; then \
        printf '%s\n' "version '${1:0:80}' is not X.Y.Z or X.Y.Z-PRERELEASE (for example 1.4.0 or 1.4.0-rc.1)" >&2; exit 1; \
      fi

# Say which tool is missing and how to get it.
[no-cd]
_need TOOL HOW:
    @command -v "$1" >/dev/null || { echo "$1 not found: install $2" >&2; exit 1; }
