# shipgate — developer and operator recipes. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Tools built by .ci/setup (cached by version); the tests and lint find them here.
export SHIPGATE_COSIGN := env_var_or_default("SHIPGATE_COSIGN", `bash .ci/setup --env | sed -n 's/^export SHIPGATE_COSIGN=//p'`)
export SHIPGATE_ACTIONLINT := env_var_or_default("SHIPGATE_ACTIONLINT", `bash .ci/setup --env | sed -n 's/^export SHIPGATE_ACTIONLINT=//p'`)

# Fuzz budget per target in `just test`: an execution count, because a duration budget trips Go
# 1.26's fuzz coordinator race at the deadline (golang/go#75804: a spurious "context deadline
# exceeded" with no failing input). Raise it locally for a longer hunt (FUZZTIME=5000000x, or 60s).
fuzztime := env_var_or_default("FUZZTIME", "150000x")

default:
    @just --list

# Everything CI checks: lint, generated code, build + vet of .dagger, all tests, fuzz, benchmarks once.
test: lint check-generated unit demo-smoke fuzz bench-smoke
    @echo "all checks passed"

# gofmt, go vet for both modules, workflow lint (actionlint + shellcheck, and our own pin/injection check).
lint:
    @bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' | grep -v 'dagger.gen.go$') 2>/dev/null || true); \
      if [ -n "$bad" ]; then echo "gofmt would change: $bad"; exit 1; fi
    go vet ./...
    go -C .dagger build ./...
    go -C .dagger vet ./...
    go run ./pipeline/cmd/workflowcheck .github/workflows
    @test -x "$SHIPGATE_ACTIONLINT" || { echo "actionlint not found at $SHIPGATE_ACTIONLINT: run bash .ci/setup" >&2; exit 1; }
    "$SHIPGATE_ACTIONLINT" -shellcheck shellcheck
    shellcheck .github/shipgate.sh .ci/run .ci/setup .ci/generate .ci/check-generated

# The root module's tests (pipeline); the packages with concurrency run again under the race detector.
unit:
    go test -count=1 ./...
    go test -count=1 -race ./pipeline/step ./pipeline/github ./pipeline/registry ./pipeline/release

# The README's first command must keep working.
demo-smoke:
    go run ./pipeline/cmd/demo > /dev/null

# Short fuzzing of every parser: one target per `go test -fuzz` run.
fuzz:
    go test -run '^$' -fuzz '^FuzzParse$' -fuzztime {{fuzztime}} ./pipeline/version
    go test -run '^$' -fuzz '^FuzzFinalize$' -fuzztime {{fuzztime}} ./pipeline/changelog
    go test -run '^$' -fuzz '^FuzzFindTBD$' -fuzztime {{fuzztime}} ./pipeline/changelog
    go test -run '^$' -fuzz '^FuzzCommit$' -fuzztime {{fuzztime}} ./pipeline/source
    go test -run '^$' -fuzz '^FuzzValidateTag$' -fuzztime {{fuzztime}} ./pipeline/registry
    go test -run '^$' -fuzz '^FuzzParseRepository$' -fuzztime {{fuzztime}} ./pipeline/registry
    go test -run '^$' -fuzz '^FuzzParseDigest$' -fuzztime {{fuzztime}} ./pipeline/registry

# Benchmarks once each, so CI proves they run; `just bench` measures for real.
bench-smoke:
    go test -run '^$' -bench . -benchtime 1x ./...

# Benchmarks with requests/op and bytes/op.
bench:
    go test -run '^$' -bench . -benchmem ./...

# Regenerate the Dagger module's code offline (codegen v0.21.8 + the schema in .ci/dagger).
generate:
    bash .ci/generate

# Fail if the committed generated code is not what `just generate` writes.
check-generated:
    bash .ci/check-generated

# Run a whole release against local services (registry, GitHub API, throwaway key); no engine needed.
demo format="text":
    go run ./pipeline/cmd/demo -format {{format}}

# The same demo inside the Dagger module (needs an engine).
demo-dagger:
    dagger call demo

# ---- Release recipes. Settings come from the environment: see README "Running from a laptop".

# Dispatch prepare-release.yml: branch release/VERSION, CHANGELOG section, draft PR.
prepare-release VERSION:
    @just _version {{VERSION}}
    @just _need gh "the GitHub CLI (https://cli.github.com), then gh auth login"
    @echo "dispatching prepare-release.yml for {{VERSION}} on $(git remote get-url origin 2>/dev/null || echo 'this repository')"
    gh workflow run prepare-release.yml -f version={{VERSION}}

# Dispatch release.yml (publish) on release/VERSION; DRY_RUN=true to only print the plan.
finalize-release VERSION:
    @just _version {{VERSION}}
    @just _need gh "the GitHub CLI (https://cli.github.com), then gh auth login"
    @echo "dispatching release.yml (publish) for {{VERSION}} on branch release/{{VERSION}} (dry_run=${DRY_RUN:-false})"
    gh workflow run release.yml --ref release/{{VERSION}} -f version={{VERSION}} -f dry_run=${DRY_RUN:-false}

# Dispatch promote-release.yml after inspecting the release; DRY_RUN=true to only check the gates.
promote-release VERSION:
    @just _version {{VERSION}}
    @just _need gh "the GitHub CLI (https://cli.github.com), then gh auth login"
    @echo "dispatching promote-release.yml for {{VERSION}} (dry_run=${DRY_RUN:-false})"
    gh workflow run promote-release.yml -f version={{VERSION}} -f dry_run=${DRY_RUN:-false}

# Run publish locally through Dagger with the same flags as CI (DRY_RUN=true: plan only).
publish VERSION:
    @just _version {{VERSION}}
    @just _need dagger "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine"
    @echo "publishing {{VERSION}} from $(git rev-parse --short HEAD) with dagger (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT=text bash .github/shipgate.sh publish --version {{VERSION}}

# Run promote locally through Dagger (DRY_RUN=true: gates only).
promote VERSION:
    @just _version {{VERSION}}
    @just _need dagger "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine"
    @echo "promoting {{VERSION}} with dagger (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT=text bash .github/shipgate.sh promote --version {{VERSION}}

# Show what exists for VERSION and which promote gates pass; changes nothing.
status VERSION:
    @just _version {{VERSION}}
    @just _need dagger "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT=text bash .github/shipgate.sh status --version {{VERSION}}

# Move latest back to an earlier promoted VERSION (DRY_RUN=true: plan only).
rollback VERSION:
    @just _version {{VERSION}}
    @just _need dagger "the Dagger CLI v0.21.8 (https://docs.dagger.io/install) and a container engine"
    @echo "rolling latest back to {{VERSION}} with dagger (dry_run=${DRY_RUN:-false})"
    REPO="${REPO:?set REPO=owner/name}" SIGN="${SIGN:-key}" SHIPGATE_FORMAT=text bash .github/shipgate.sh rollback --version {{VERSION}}

# Refuse a malformed version before anything is dispatched.
_version VERSION:
    @go run ./pipeline/cmd/version {{VERSION}} >/dev/null

# Say which tool is missing and how to get it.
_need TOOL HOW:
    @command -v {{TOOL}} >/dev/null || { echo "{{TOOL}} not found: install {{HOW}}" >&2; exit 1; }
