package adopt

import "strings"

// The shell shared by this repository's .github/shipgate.sh (what its reusable workflows run) and
// the justfile Render writes for an adopter (who has no script of shipgate's): how the settings in
// the environment become module flags. .github/shipgate.sh is generated from ActionsScript
// (TestActionsScriptIsCurrent fails when it differs; SHIPGATE_UPDATE=1 rewrites it), so a change
// here reaches both.

// settingsArgs appends the registry login, the GitHub token and the downstream repository to args,
// each as an env:NAME reference, never a value.
const settingsArgs = `if [ -n "${REGISTRY_PASSWORD:-}" ]; then
  args+=(--registry-username "${REGISTRY_USERNAME:?REGISTRY_USERNAME must be set with REGISTRY_PASSWORD}" --registry-password env:REGISTRY_PASSWORD)
fi
if [ -n "${SHIPGATE_GITHUB_TOKEN:-}" ]; then
  args+=(--github-token env:SHIPGATE_GITHUB_TOKEN)
fi
if [ -n "${DOWNSTREAM:-}" ]; then
  args+=(--downstream "$DOWNSTREAM")
  if [ -n "${SHIPGATE_DOWNSTREAM_TOKEN:-}" ]; then
    args+=(--downstream-token env:SHIPGATE_DOWNSTREAM_TOKEN)
  fi
fi
`

// signArgs ends the `case "$sign" in` that picks the signing mode: key and none (keyless differs
// between a workflow and a laptop and comes before it), any other word refused; then
// SHIPGATE_EXTRA_ARGS, split on spaces, never evaluated.
const signArgs = `  key)
    args+=(--sign key --verify-key "${COSIGN_PUB:-cosign.pub}")
    if [ -n "${COSIGN_KEY:-}" ]; then
      args+=(--signing-key env:COSIGN_KEY --signing-password env:COSIGN_PASSWORD)
    fi
    ;;
  none) args+=(--sign none) ;;
  *) echo "SIGN must be keyless, key or none, not '$sign'" >&2; exit 2 ;;
esac
if [ -n "${SHIPGATE_EXTRA_ARGS:-}" ]; then
  read -r -a extra <<<"$SHIPGATE_EXTRA_ARGS"
  args+=("${extra[@]}")
fi
`

// ActionsScript is .github/shipgate.sh: it calls one shipgate function from a workflow step.
var ActionsScript = `#!/usr/bin/env bash
# Code generated from pipeline/adopt/script.go by ` + "`" + `just generate` + "`" + `; DO NOT EDIT.
# Calls one shipgate function from a workflow step with the settings taken from the environment
# (repository variables and secrets, set in the step's env:), so workflows stay one quoted line
# and no ${{ }} expression is ever pasted into a shell.
#
#   bash .github/shipgate.sh FUNCTION [FUNCTION ARGS...]
#
# Environment: REPO (owner/name), IMAGE (default ghcr.io/<repo>), SHIPGATE_MODULE (default .),
# REGISTRY_USERNAME/REGISTRY_PASSWORD, SHIPGATE_GITHUB_TOKEN, DOWNSTREAM +
# SHIPGATE_DOWNSTREAM_TOKEN, SIGN (keyless|key|none), COSIGN_KEY/COSIGN_PASSWORD/COSIGN_PUB
# (key mode; COSIGN_PUB defaults to cosign.pub of the checkout, which promote takes from the default
# branch), SHIPGATE_WORKFLOW (keyless: the publish workflow whose signatures count, --workflow),
# DRY_RUN (true|false), SHIPGATE_FORMAT (default markdown), SHIPGATE_EXTRA_ARGS (extra constructor
# flags, space-separated, e.g. --github-api https://ghe.example.com/api/v3/ or --plain-http
# HOST:PORT; split on spaces, never evaluated), GITHUB_RUN_ID/GITHUB_RUN_ATTEMPT/GITHUB_WORKFLOW_REF
# (set by Actions; recorded in provenance).
# Secrets are handed to dagger as env:NAME references, never as values on the command line.
#
# Keyless, for publish ("already signed?"), promote, status and rollback of version V: unless
# SHIPGATE_EXTRA_ARGS names an identity, only signatures by the publish workflow of this repository
# run on refs/heads/release/V count (--certificate-identity
# https://github.com/REPO/WORKFLOW@refs/heads/release/V). A publish workflow of another repository
# (OWNER/NAME/.github/workflows/x.yml, a reusable workflow) keeps the module's default policy.
set -euo pipefail

fn=${1:?usage: shipgate.sh FUNCTION [ARGS...]}
shift

: "${REPO:?REPO (owner/name) must be set}"
image=${IMAGE:-ghcr.io/$REPO}
# --no-fail: the report comes back as the value even when the phase is refused or fails, so it
# reaches stdout and the job summary whole; this script sets its exit code from the verdict.
args=(--source . --repo "$REPO" --image "${image,,}" --format "${SHIPGATE_FORMAT:-markdown}" --no-fail)
` + settingsArgs + `# The --version among the function's arguments (for the keyless identity pin below).
version=""
prev=""
for a in "$@"; do
  case "$prev" in --version) version=$a ;; esac
  case "$a" in --version=*) version=${a#--version=} ;; esac
  prev=$a
done

if [ -n "${SHIPGATE_WORKFLOW:-}" ]; then
  args+=(--workflow "$SHIPGATE_WORKFLOW")
fi
sign=${SIGN:-keyless}
case "$sign" in
  keyless)
    args+=(--sign keyless)
    workflow=${SHIPGATE_WORKFLOW:-.github/workflows/release.yml}
    case "$fn" in
      publish | promote | status | rollback)
        if [ -n "$version" ] && [[ "$workflow" == .github/* ]] && [[ " ${SHIPGATE_EXTRA_ARGS:-} " != *" --certificate-identity"* ]]; then
          branch=$version
          # A candidate X.Y.Z-rc.N (or -rcN) is published from release/X.Y.Z.
          if [[ "$version" =~ ^(v?[0-9]+\.[0-9]+\.[0-9]+)-rc\.?[0-9]+$ ]]; then branch=${BASH_REMATCH[1]}; fi
          args+=(--certificate-identity "https://github.com/$REPO/$workflow@refs/heads/release/$branch")
        fi
        ;;
    esac
    if [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]; then
      args+=(--oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN)
    fi
    ;;
` + signArgs + `
fn_args=("$@")
if [ "${DRY_RUN:-false}" = "true" ]; then
  fn_args+=(--dry-run)
fi
if [ "$fn" = "publish" ] && [ -n "${GITHUB_RUN_ID:-}" ]; then
  fn_args+=(--run-id "$GITHUB_RUN_ID" --run-attempt "${GITHUB_RUN_ATTEMPT:-1}" --workflow-ref "${GITHUB_WORKFLOW_REF:-}")
fi
if { [ "$fn" = "promote" ] || [ "$fn" = "rollback" ]; } && [ -n "${GITHUB_RUN_ID:-}" ]; then
  fn_args+=(--run-id "$GITHUB_RUN_ID" --run-attempt "${GITHUB_RUN_ATTEMPT:-1}")
fi

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
echo "shipgate: dagger call $fn ${fn_args[*]}" >&2
set +e
dagger -m "${SHIPGATE_MODULE:-.}" call "${args[@]}" "$fn" "${fn_args[@]}" >"$out" 2> >(tee "$err" >&2)
rc=$?
set -e
cat "$out"
# The verdict is in the report: the title line ends in FAILED (text, markdown) or "ok" is false
# (json). A refused or failed phase fails this step.
if [ "$rc" -eq 0 ] && head -n 3 "$out" | grep -Eq ': FAILED$|"ok": false'; then
  rc=1
fi

# The result (Markdown) goes to the job summary; on failure, the error's last lines too.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    cat "$out"
    if [ "$rc" -ne 0 ]; then
      printf '\n**shipgate %s failed (exit %s)**\n\n` + "`" + `` + "`" + `` + "`" + `\n' "$fn" "$rc"
      tail -n 80 "$err"
      printf '` + "`" + `` + "`" + `` + "`" + `\n'
    fi
  } >>"$GITHUB_STEP_SUMMARY"
fi
# finalize prints the finalize commit; later jobs check it out.
if [ "$fn" = "finalize" ] && [ "$rc" -eq 0 ] && [ -n "${GITHUB_OUTPUT:-}" ]; then
  commit=$(grep -Eo '\b[0-9a-f]{40}\b' "$out" | tail -n 1 || true)
  echo "commit=$commit" >>"$GITHUB_OUTPUT"
fi
exit "$rc"
`

// indent puts prefix before every line of s that is not empty.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
