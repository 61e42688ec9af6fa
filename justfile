# shipgate — developer and operator recipes. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Fuzz time per target in `just test` (CI) — raise it locally for a longer hunt.
fuzztime := env_var_or_default("FUZZTIME", "8s")

default:
    @just --list

# Everything CI checks: lint, generated code, build + vet of .dagger, all tests, fuzz, benchmarks once.
test: lint check-generated unit fuzz bench-smoke
    @echo "all checks passed"

# gofmt, go vet for both modules, workflow lint (actionlint + shellcheck, and our own pin/injection check).
lint:
    @bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' | grep -v 'dagger.gen.go$') 2>/dev/null || true); \
      if [ -n "$bad" ]; then echo "gofmt would change: $bad"; exit 1; fi
    go vet ./...
    go -C .dagger build ./...
    go -C .dagger vet ./...
    go run ./pipeline/cmd/workflowcheck .github/workflows
    "${SHIPGATE_ACTIONLINT:-actionlint}" -shellcheck shellcheck
    shellcheck .github/shipgate.sh .ci/run .ci/setup .ci/generate .ci/check-generated

# The root module's tests (pipeline), with the race detector on the concurrent packages.
unit:
    go test -count=1 ./...

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
