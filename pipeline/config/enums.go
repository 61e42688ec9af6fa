package config

import (
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/step"
)

// The settings that are one of a few words each have a type and a ParseX that reads the flag's
// text. ParseX takes "" as "not given" and returns the default; anything else it does not know is
// a fault.BadInput error that names the flag and lists the accepted words.

// SignMode is how publish signs and promote verifies: --sign.
type SignMode string

// Signing modes.
const (
	SignKeyless SignMode = "keyless" // GitHub Actions OIDC → Fulcio certificate + Rekor entry
	SignKey     SignMode = "key"     // a cosign key pair (cosign generate-key-pair)
	SignNone    SignMode = "none"    // no signatures: promote's signature gate cannot pass; for dry runs and demos
)

// ParseSignMode reads --sign.
func ParseSignMode(s string) (SignMode, error) {
	return parseWord("--sign", s, DefaultSign, SignKeyless, SignKey, SignNone)
}

// GateMode says which kind of downstream release counts as a passed smoke test: --downstream-gate.
type GateMode string

// Downstream gate modes.
const (
	GatePrerelease GateMode = "prerelease"
	GateRelease    GateMode = "release"
	GateAny        GateMode = "any"
)

// ParseGateMode reads --downstream-gate.
func ParseGateMode(s string) (GateMode, error) {
	return parseWord("--downstream-gate", s, DefaultDownstreamGate, GatePrerelease, GateRelease, GateAny)
}

// MergeMethod is how promote merges the release PR: --merge-method.
type MergeMethod string

// Merge methods, as GitHub names them.
const (
	MergeCommit MergeMethod = "merge" // a merge commit: the release tag stays reachable from the base branch
	MergeSquash MergeMethod = "squash"
	MergeRebase MergeMethod = "rebase"
)

// ParseMergeMethod reads --merge-method.
func ParseMergeMethod(s string) (MergeMethod, error) {
	return parseWord("--merge-method", s, DefaultMergeMethod, MergeCommit, MergeSquash, MergeRebase)
}

// Format is the output format of every function's report: --format.
type Format string

// Output formats; the step package renders them.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown" // for $GITHUB_STEP_SUMMARY
	FormatJSON     Format = "json"
)

// ParseFormat reads --format.
func ParseFormat(s string) (Format, error) {
	f, err := parseWord("--format", s, DefaultFormat, FormatText, FormatMarkdown, FormatJSON)
	if err == nil && step.ValidFormat(string(f)) != nil {
		// The step package renders the report; a format it cannot render is a bug here, not input.
		return "", fmt.Errorf("--format %s: the report renderer does not know it", f)
	}
	return f, err
}

// parseWord is every ParseX: "" is the default, one of the words is itself, anything else is bad
// input naming the flag.
func parseWord[T ~string](flag, s string, def T, words ...T) (T, error) {
	if s == "" {
		return def, nil
	}
	names := make([]string, len(words))
	for i, w := range words {
		if string(w) == s {
			return w, nil
		}
		names[i] = string(w)
	}
	return "", fault.BadInputf("%s %s is not one of %s", flag, show(s), strings.Join(names, ", "))
}
