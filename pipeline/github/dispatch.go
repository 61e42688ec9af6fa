package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// DefaultEventType is the repository_dispatch event type of the smoke test.
const DefaultEventType = "shipgate-smoke-test"

// DispatchPayload is the client_payload of the smoke-test dispatch. Its keys are the names the
// receiver of the flow shipgate replaces already reads (tag, release_kind, source_repo,
// source_sha, source_run_id, source_run_url, correlation_id) plus version, image and digest: ten,
// GitHub's limit of top-level properties. Extra adds keys of the caller's own; a payload with more
// than ten keys in all is refused before anything is sent (BadInput).
type DispatchPayload struct {
	Version string `json:"version"`
	// Tag is the git tag of the build ("v1.2.3", "1.2.3-rc4"), as the receiver validates it.
	Tag string `json:"tag"`
	// ReleaseKind is ReleaseCandidate or ReleaseFinal; empty means final.
	ReleaseKind string `json:"release_kind"`
	// Image is the image repository (ghcr.io/acme/app); Digest the index digest to test.
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Repository is the source repository (owner/name); Commit the finalize commit.
	Repository string `json:"source_repo"`
	Commit     string `json:"source_sha"`
	// RunID and RunURL name the publishing run (RunURL may name its attempt:
	// …/actions/runs/ID/attempts/N).
	RunID  string `json:"source_run_id,omitempty"`
	RunURL string `json:"source_run_url,omitempty"`
	// CorrelationID is CorrelationID(version, digest): the same on every re-run, so the
	// downstream can de-duplicate and name it in its release.
	CorrelationID string `json:"correlation_id"`
	// Extra are further top-level keys; they may not replace the keys above.
	Extra map[string]any `json:"-"`
}

// Release kinds of DispatchPayload.ReleaseKind.
const (
	ReleaseCandidate = "candidate"
	ReleaseFinal     = "final"
)

// MaxPayloadKeys is GitHub's limit on top-level properties of a repository_dispatch
// client_payload.
const MaxPayloadKeys = 10

// ClientPayload is p as the JSON object sent: the fields, then Extra. More than MaxPayloadKeys
// keys, an Extra key that would replace a field, or an unknown release kind is BadInput.
func (p DispatchPayload) ClientPayload() (json.RawMessage, error) {
	if p.ReleaseKind == "" {
		p.ReleaseKind = ReleaseFinal
	}
	if p.ReleaseKind != ReleaseCandidate && p.ReleaseKind != ReleaseFinal {
		return nil, fault.BadInputf("dispatch payload: release_kind %q: use %q or %q", p.ReleaseKind, ReleaseCandidate, ReleaseFinal)
	}
	type plain DispatchPayload // no methods: no recursion
	raw, err := json.Marshal(plain(p))
	if err != nil {
		return nil, fault.BadInputf("dispatch payload: %w", err)
	}
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw, &m)
	for k, v := range p.Extra {
		if _, taken := m[k]; taken {
			return nil, fault.BadInputf("dispatch payload: extra key %q would replace shipgate's own", k)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fault.BadInputf("dispatch payload: extra key %q: %w", k, err)
		}
		m[k] = b
	}
	if len(m) > MaxPayloadKeys {
		return nil, fault.BadInputf("dispatch payload has %d top-level keys: GitHub accepts at most %d (No more than 10 properties are allowed); drop %d extra key(s)", len(m), MaxPayloadKeys, len(m)-MaxPayloadKeys)
	}
	out, _ := json.Marshal(m)
	return out, nil
}

// CorrelationID is derived from the version and the index digest only, so every re-run of a
// publish of the same build sends the same id, and another build of the same version a different
// one: "shipgate-1.2.3-<16 hex>".
func CorrelationID(v version.Version, digest string) string {
	h := sha256.Sum256([]byte(v.String() + "\n" + digest))
	return "shipgate-" + v.String() + "-" + hex.EncodeToString(h[:8])
}

// Dispatch sends the smoke-test repository_dispatch to downstream. Use a Client made with the
// downstream token: the Actions GITHUB_TOKEN cannot dispatch to another repository.
func (c *Client) Dispatch(ctx context.Context, downstream Repo, event string, p DispatchPayload) error {
	if event == "" {
		event = DefaultEventType
	}
	if len(event) > 100 {
		return fault.BadInputf("dispatch event type %q (--event-type) is %d characters: GitHub accepts at most 100", event, len(event))
	}
	if p.Version == "" || p.Digest == "" || p.CorrelationID == "" {
		return fault.BadInputf("dispatch to %s: the payload needs version, digest and correlation_id", downstream)
	}
	msg, err := p.ClientPayload()
	if err != nil {
		return fmt.Errorf("dispatch to %s: %w", downstream, err)
	}
	op := fmt.Sprintf("dispatch %s to %s", event, downstream)
	// At-least-once by design: repeating the POST after a lost answer is fine (the downstream
	// de-duplicates on the correlation id).
	_, _, err = c.gh.Repositories.Dispatch(idempotent(ctx), downstream.Owner, downstream.Name, gh.DispatchRequestOptions{EventType: event, ClientPayload: &msg})
	return c.wrap(err, op, downstream, "contents: write (with a token for the downstream repository)")
}

// DispatchOutcome says what EnsureDispatch did.
type DispatchOutcome struct {
	Record DispatchRecord
	// Dispatched is false when the release already recorded this dispatch.
	Dispatched bool
	// Release is the release with the record in its state marker.
	Release *Release
}

// EnsureDispatch sends the smoke test at least once: when rel's state marker has no record of a
// dispatch with p.CorrelationID, it dispatches through down (a Client with the downstream token)
// and then records the dispatch in the marker. A crash between the two makes the next run
// dispatch again, which the correlation id lets the downstream de-duplicate.
func (c *Client) EnsureDispatch(ctx context.Context, r Repo, rel *Release, down *Client, downstream Repo, event string, p DispatchPayload) (DispatchOutcome, error) {
	if event == "" {
		event = DefaultEventType
	}
	if d := rel.State.Dispatch; d != nil && d.CorrelationID == p.CorrelationID && strings.EqualFold(d.Repo, downstream.String()) {
		return DispatchOutcome{Record: *d, Release: rel}, nil
	}
	if err := down.Dispatch(ctx, downstream, event, p); err != nil {
		return DispatchOutcome{}, err
	}
	rec := DispatchRecord{Repo: downstream.String(), EventType: event, CorrelationID: p.CorrelationID, Digest: p.Digest, At: c.clk.Now().UTC()}
	updated, err := c.UpdateState(ctx, r, rel, State{Dispatch: &rec})
	if err != nil {
		return DispatchOutcome{}, fmt.Errorf("smoke test dispatched to %s but not recorded (a re-run will dispatch again): %w", downstream, err)
	}
	return DispatchOutcome{Record: rec, Dispatched: true, Release: updated}, nil
}

// GateResult is the smoke-test gate's verdict.
type GateResult struct {
	Passed bool
	// Reason says why, in one line, naming what was looked at.
	Reason string
	// URL is the downstream release that passed (or was closest).
	URL string
}

// DownstreamResult checks the smoke-test gate: downstream has a published release for vX.Y.Z of
// the kind mode wants, and — unless requireDigest is false — its name or notes name the index
// digest or the correlation id, so a test of another build of the same version cannot pass. It
// reads that one release (GitHub's by-tag endpoint, which never shows drafts), whatever the
// downstream's history.
func (c *Client) DownstreamResult(ctx context.Context, downstream Repo, v version.Version, digest, correlation string, mode config.GateMode, requireDigest bool) (GateResult, error) {
	// mode comes from config.ParseGateMode; checking it with that one reader gives the zero value
	// config's default and refuses, before any request, a mode that did not come from it.
	mode, err := config.ParseGateMode(string(mode))
	if err != nil {
		return GateResult{}, err
	}
	wants := string(mode)
	if mode == config.GateAny {
		wants = "prerelease or release"
	}
	tag := v.GitTag()
	rel, err := c.publishedRelease(ctx, downstream, tag)
	if err != nil {
		return GateResult{}, err
	}
	if rel == nil {
		// GitHub answers 404 for a missing release and for a repository the token cannot see.
		if _, err := c.repoPermissions(ctx, downstream); err != nil {
			return GateResult{}, err
		}
		return GateResult{Reason: fmt.Sprintf("downstream %s has no %s %s yet (drafts do not count): the smoke test has not reported; wait for it and re-run promote", downstream, wants, tag)}, nil
	}
	kind := "full release"
	if rel.GetPrerelease() {
		kind = "pre-release"
	}
	url := rel.GetHTMLURL()
	if (mode == config.GatePrerelease && !rel.GetPrerelease()) || (mode == config.GateRelease && rel.GetPrerelease()) {
		return GateResult{URL: url, Reason: fmt.Sprintf("downstream %s: %s is a %s, the gate wants a %s", downstream, url, kind, wants)}, nil
	}
	if requireDigest {
		text := rel.GetName() + "\n" + rel.GetBody()
		if !(digest != "" && strings.Contains(text, digest)) && !(correlation != "" && strings.Contains(text, correlation)) {
			return GateResult{URL: url, Reason: fmt.Sprintf("downstream %s: %s names neither digest %s nor correlation id %s: it tested another build", downstream, url, digest, correlation)}, nil
		}
	}
	return GateResult{Passed: true, URL: url, Reason: fmt.Sprintf("downstream %s has %s %s for this build", downstream, kind, tag)}, nil
}
