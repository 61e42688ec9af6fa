package sign

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/testkit"
)

// A signature in cosign's older tag-based format (sha256-<hex>.sig) is named in the refusal,
// with what to do, instead of "no bundle".
func TestOlderCosignFormatIsNamed(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	old, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.Replace(r.index.DigestStr(), ":", "-", 1) + ".sig"
	if err := remote.Write(r.index.Context().Tag(tag), old); err != nil {
		t.Fatal(err)
	}
	reqs, err := NewStore().VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, newTestKey(t).offlinePolicy())
	if err == nil {
		t.Fatal("an unsigned release verified")
	}
	var reason string
	for _, q := range reqs {
		if q.What == "signature" && q.Of == "index" {
			reason = q.Reason
		}
	}
	if !strings.Contains(reason, tag) || !strings.Contains(reason, "older tag-based format") || !strings.Contains(reason, "cosign v3") {
		t.Fatalf("the index signature's reason does not name the older format: %q", reason)
	}
	for _, q := range reqs {
		if q.Of != "index" && strings.Contains(q.Reason, "older") {
			t.Fatalf("a platform without an older-format tag was said to have one: %q", q.Reason)
		}
	}
}
