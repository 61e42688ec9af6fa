package github

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

var (
	subjA = "sha256:" + strings.Repeat("a1", 32)
	subjB = "sha256:" + strings.Repeat("b2", 32)
)

func provenanceBundle(sig string, digests ...string) []byte {
	var subj []any
	for _, d := range digests {
		subj = append(subj, map[string]any{"name": "ghcr.io/acme/app", "digest": map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}})
	}
	st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subj, "predicateType": "https://slsa.dev/provenance/v1", "predicate": map[string]any{}})
	b, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": map[string]any{},
		"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(st), "payloadType": "application/vnd.in-toto+json", "signatures": []any{map[string]any{"sig": sig}}}})
	return b
}

func TestStoreAndListAttestations(t *testing.T) {
	e := newEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	for i := 0; i < 3; i++ {
		if _, err := e.c.StoreAttestation(e.ctx, app, provenanceBundle(fmt.Sprintf("sig%d", i), subjA)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.client(readToken).Attestations(e.ctx, app, subjA)
	if err != nil || len(got) != 3 || !sameJSON(got[2], provenanceBundle("sig2", subjA)) {
		t.Fatalf("listed %d across pages: %v", len(got), err)
	}
	if got, err := e.c.Attestations(e.ctx, app, subjB); err != nil || len(got) != 0 {
		t.Fatalf("none stored (GitHub's 404) is an empty list: %v %v", got, err)
	}
	// Read-only tokens cannot store; strangers cannot see the private repository at all.
	_, err = e.client(readToken).StoreAttestation(e.ctx, app, provenanceBundle("x", subjA))
	mustContain(t, err, "403", "attestations=write")
	if fault.Of(err) == fault.Unknown {
		t.Fatalf("unclassified: %v", err)
	}
	_, err = e.down.Attestations(e.ctx, app, subjA)
	mustContain(t, err, "404", "not visible")
	_, err = e.c.Attestations(e.ctx, app, "sha256:XYZ")
	if !errors.Is(err, fault.ErrBadInput) {
		t.Fatalf("bad digest: %v", err)
	}
	e.noLeak(err)
}

func TestEnsureAttestationStoresOnce(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	bundle := provenanceBundle("s1", subjA, subjB)
	// The first store's answer is lost: the retry looks, finds it, and stores nothing more.
	lost := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/attestations$`), DropResponse: true, Times: 1})
	if _, err := e.c.EnsureAttestation(e.ctx, app, subjA, bundle); err != nil {
		t.Fatal(err)
	}
	if lost.Injected() != 1 {
		t.Fatalf("the store's answer was lost %d times, want 1", lost.Injected())
	}
	// Re-runs, with the same bundle formatted otherwise, store nothing.
	var v any
	_ = json.Unmarshal(bundle, &v)
	indented, _ := json.MarshalIndent(v, "", "  ")
	for _, b := range [][]byte{bundle, indented} {
		out, err := e.c.EnsureAttestation(e.ctx, app, subjB, b)
		if err != nil || out.Stored {
			t.Fatalf("re-run stored again: %+v %v", out, err)
		}
	}
	if n := len(e.srv.Attestations("acme/app")); n != 1 {
		t.Fatalf("%d attestations stored, want 1", n)
	}
	// Another bundle for the same digest is stored.
	if out, err := e.c.EnsureAttestation(e.ctx, app, subjA, provenanceBundle("s2", subjA)); err != nil || !out.Stored || out.ID == 0 {
		t.Fatalf("second bundle: %+v %v", out, err)
	}
	// A bundle that does not name the digest is refused before any request.
	_, err := e.c.EnsureAttestation(e.ctx, app, "sha256:"+strings.Repeat("c", 64), bundle)
	mustContain(t, err, "names other subjects")
	// A plain message-signature bundle names its message digest.
	raw, _ := hex.DecodeString(strings.Repeat("a1", 32))
	msg, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
		"messageSignature": map[string]any{"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(raw)}, "signature": "AA=="}})
	if out, err := e.c.EnsureAttestation(e.ctx, app, subjA, msg); err != nil || !out.Stored {
		t.Fatalf("message signature bundle: %+v %v", out, err)
	}
}
