package sign

// How many registry requests verification makes (issue #15): each subject's referrers listed once
// per Store, and the content embedded in descriptors used, only when it is what its digest names.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// Kinds of registry request, by path.
var (
	referrersAPIPath = regexp.MustCompile(`^GET /v2/.+/referrers/sha256:[0-9a-f]{64}$`)
	fallbackTagPath  = regexp.MustCompile(`^GET /v2/.+/manifests/sha256-[0-9a-f]{64}$`)
	manifestGetPath  = regexp.MustCompile(`^GET /v2/.+/manifests/sha256:[0-9a-f]{64}$`)
	blobGetPath      = regexp.MustCompile(`^GET /v2/.+/blobs/sha256:[0-9a-f]{64}$`)
)

// phaseStore is a Store on a registry client of its own (one phase), whose requests rec records.
func phaseStore(host string, rec *pathRecorder) *Store {
	return storeOn(host, registry.WithTransport(rec))
}

// TestVerifyReleaseRequests counts what promote's signature gate asks the registry, on the
// registry client's stack, for a release of three subjects and six bundles: each subject listed
// once (and the referrers API asked once at all where the registry lacks it), no blob read (the
// bundles are embedded in their manifests), and, in the fallback lane, no manifest read either
// (the manifests are embedded in the sha256-<hex> index). Later lookups in the same phase ask
// nothing more; another phase lists again.
func TestVerifyReleaseRequests(t *testing.T) {
	for _, c := range []struct {
		lane                                 lane
		referrersAPI, fallbackTags, manifest int
	}{
		{lanes[0], 3, 0, 6},
		{lanes[1], 1, 3, 0},
	} {
		t.Run(c.lane.name, func(t *testing.T) {
			fx := setUp(t, c.lane)
			host, r, key := fx.host, fx.r, fx.key
			// Published as publish does it: through the registry client's stack.
			publish(t, phaseStore(host, &pathRecorder{}), r, key.signer(t, KeyOptions{DisableTlogUpload: true}), finalizeCommit)

			rec := &pathRecorder{}
			st := phaseStore(host, rec)
			if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
				t.Fatal(err)
			}
			for _, k := range []struct {
				what string
				re   *regexp.Regexp
				want int
			}{
				{"referrers API requests", referrersAPIPath, c.referrersAPI},
				{"sha256-<hex> tag reads", fallbackTagPath, c.fallbackTags},
				{"referrer manifest reads", manifestGetPath, c.manifest},
				{"blob reads", blobGetPath, 0},
			} {
				if got := rec.matching(k.re); len(got) != k.want {
					t.Errorf("%d %s, want %d: %v", len(got), k.what, k.want, got)
				}
			}
			t.Logf("%d requests: %v", len(rec.paths), rec.paths)

			// The same phase looks again: nothing is asked again.
			n := len(rec.paths)
			if ok, err := st.Signed(t.Context(), r.index, key.offlinePolicy()); !ok || err != nil {
				t.Fatalf("Signed = %v, %v", ok, err)
			}
			if ok, err := st.Attested(t.Context(), r.platforms["linux/arm64"], SPDXPredicateType, key.offlinePolicy(), nil); !ok || err != nil {
				t.Fatalf("Attested = %v, %v", ok, err)
			}
			if extra := len(rec.paths) - n; extra != 0 {
				t.Errorf("looking again in the same phase made %d requests: %v", extra, rec.paths[n:])
			}
			// Another phase lists again.
			rec2 := &pathRecorder{}
			if ok, err := phaseStore(host, rec2).Signed(t.Context(), r.index, key.offlinePolicy()); !ok || err != nil {
				t.Fatalf("Signed in another phase = %v, %v", ok, err)
			}
			if got := len(rec2.matching(referrersAPIPath)) + len(rec2.matching(fallbackTagPath)); got == 0 {
				t.Errorf("another phase did not list the referrers again: %v", rec2.paths)
			}
		})
	}
}

// TestWritesUpdateTheListing: what a Store writes, a later lookup of the same Store sees, from
// the listing read back after the write (no listing of its own).
func TestWritesUpdateTheListing(t *testing.T) {
	eachLane(t, lanes[:2], func(t *testing.T, fx laneFixture) {
		host, r, key := fx.host, fx.r, fx.key
		rec := &pathRecorder{}
		st := phaseStore(host, rec)
		if ok, err := st.Signed(t.Context(), r.index, key.offlinePolicy()); ok || err != nil {
			t.Fatalf("before signing: Signed = %v, %v", ok, err)
		}
		if err := st.Sign(t.Context(), r.index, key.signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
			t.Fatal(err)
		}
		n := len(rec.paths)
		if ok, err := st.Signed(t.Context(), r.index, key.offlinePolicy()); !ok || err != nil {
			t.Fatalf("after signing: Signed = %v, %v", ok, err)
		}
		listings := regexp.MustCompile(referrersAPIPath.String() + "|" + fallbackTagPath.String())
		for _, p := range rec.paths[n:] {
			if listings.MatchString(p) {
				t.Errorf("the lookup after the write listed again: %v", rec.paths[n:])
			}
		}
	})
}

// TestStoredLayoutEmbedsContent: the bundle layer's descriptor carries the bundle, and the
// sha256-<hex> index entry carries the referrer manifest, each exactly the content its digest
// names.
func TestStoredLayoutEmbedsContent(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	if err := storeOn(host).Sign(t.Context(), r.index, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
		t.Fatal(err)
	}
	_, idx := manifestAt(t, fallbackTag(r.index), v1.ParseIndexManifest)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index %+v", idx)
	}
	entry := idx.Manifests[0]
	raw, m := manifestAt(t, r.repo.Digest(entry.Digest.String()), v1.ParseManifest)
	if !bytes.Equal(entry.Data, raw) {
		t.Fatalf("the index entry embeds %q, not the manifest %q", entry.Data, raw)
	}
	blob, err := readBlob(testConn(t, storeOn(host)), r.repo.Digest(m.Layers[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Layers[0].Data, blob) {
		t.Fatalf("the layer embeds %d bytes, not the %d-byte bundle", len(m.Layers[0].Data), len(blob))
	}
}

// TestTamperedEmbeddedContentIsNotTrusted puts, where a descriptor's digest names one content,
// another content in its data: in the layer descriptor of a referrer manifest (both lanes), and in
// the sha256-<hex> index entry (fallback lane). The data is ignored and the content fetched by
// digest: the signature is accepted when the real content verifies, and refused when it does not,
// however well the embedded content would verify.
func TestTamperedEmbeddedContentIsNotTrusted(t *testing.T) {
	for _, l := range lanes[:2] {
		for _, where := range []string{"layer", "index"} {
			if where == "index" && l.referrers {
				continue
			}
			for _, realOK := range []bool{true, false} {
				t.Run(l.name+"/"+where+"/"+map[bool]string{true: "real content verifies", false: "real content does not verify"}[realOK], func(t *testing.T) {
					tamperedCase(t, l, where, realOK)
				})
			}
		}
	}
}

// tamperedCase stores a signature of the index whose real content is signed by the policy's key
// (realOK) or by another, with the embedded content of the other kind, and checks the verdict.
func tamperedCase(t *testing.T, l lane, where string, realOK bool) {
	fx := setUp(t, l)
	r, key, st := fx.r, fx.key, fx.st
	other := newTestKey(t)
	good, bad := signedBundle(t, key, r.index), signedBundle(t, other, r.index)
	real, fake := bad, good
	if realOK {
		real, fake = good, bad
	}
	cn := testConn(t, st)
	desc, err := remote.Head(r.index)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.putReferrer(t.Context(), cn, r.index, *desc, real, SignaturePredicateType); err != nil {
		t.Fatal(err)
	}
	switch where {
	case "layer":
		tamperLayer(t, r.index, fake)
	case "index":
		fakeManifest, _, err := st.referrerManifest(cn, r.index, *desc, fake, SignaturePredicateType)
		if err != nil {
			t.Fatal(err)
		}
		tamperIndex(t, r.index, fakeManifest)
	}
	rec := &pathRecorder{}
	v, err := phaseStore(r.repo.RegistryStr(), rec).lookupUnder(t.Context(), key.offlinePolicy(), r.index, SignaturePredicateType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.ok != realOK {
		t.Fatalf("accepted = %v, want %v (the real content's verdict): %v", v.ok, realOK, v.rejected)
	}
	if !realOK && !strings.Contains(strings.Join(v.rejected, ";"), "does not verify under policy") {
		t.Errorf("refused for another reason than the real content's signature: %v", v.rejected)
	}
	fetched := blobGetPath
	if where == "index" {
		fetched = manifestGetPath
	}
	if len(rec.matching(fetched)) == 0 {
		t.Errorf("the real content was not fetched: %v", rec.paths)
	}
}

// signedBundle is a bundle of a `cosign sign` statement about subject, signed with key.
func signedBundle(t *testing.T, key testKey, subject name.Digest) []byte {
	t.Helper()
	stmt, err := statement(SignaturePredicateType, []byte("{}"), false, subject)
	if err != nil {
		t.Fatal(err)
	}
	b, err := key.signer(t, KeyOptions{DisableTlogUpload: true}).signStatement(t.Context(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamperLayer adds a referrer of subject, newest of all (looked at first), that is subject's
// only referrer but for its layer descriptor: the same blob, with fake embedded.
func tamperLayer(t *testing.T, subject name.Digest, fake []byte) {
	t.Helper()
	listed, err := storeOn(subject.RegistryStr()).listing(t.Context(), subject)
	if err != nil || len(listed) != 1 {
		t.Fatalf("listing %v %v", listed, err)
	}
	got, err := remote.Get(subject.Context().Digest(listed[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(got.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[0].Data = fake
	m.Annotations[AnnotationCreated] = "9999-12-31T23:59:59Z"
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// go-containerregistry adds it to the sha256-<hex> index where there is no referrers API.
	if err := remote.Put(subject.Context().Digest(h.String()), rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
}

// tamperIndex replaces what subject's only sha256-<hex> index entry embeds by fake (a manifest
// whose digest is not the entry's).
func tamperIndex(t *testing.T, subject name.Digest, fake []byte) {
	t.Helper()
	tag := fallbackTag(subject)
	_, im := manifestAt(t, tag, v1.ParseIndexManifest)
	if len(im.Manifests) != 1 || im.Manifests[0].Data == nil {
		t.Fatalf("index %+v: want one entry with the manifest embedded", im)
	}
	im.Manifests[0].Data = fake
	b, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawManifest{b, types.OCIImageIndex}); err != nil {
		t.Fatal(err)
	}
}

// TestFallbackIndexStaysSmall: past maxFallbackIndex, the index leaves out the manifests embedded
// in its oldest entries first, and keeps them in the newest.
func TestFallbackIndexStaysSmall(t *testing.T) {
	im := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	const n = 30 // 30 embedded manifests of 48 KiB: about 2 MiB in base64
	for i := range n {
		content := bytes.Repeat([]byte{byte('a' + i%26)}, 48<<10)
		h, size, err := v1.SHA256(bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		created := fmt.Sprintf("2026-11-29T09:00:%02dZ", i)
		im.Manifests = append(im.Manifests, embed(v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, Annotations: map[string]string{AnnotationCreated: created}}, content))
	}
	// Sorted by digest, as written: the created order is another.
	slices.SortFunc(im.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	raw, err := fitFallback(im)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > maxFallbackIndex {
		t.Fatalf("index of %d bytes, over %d", len(raw), maxFallbackIndex)
	}
	got, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil || len(got.Manifests) != n {
		t.Fatalf("index %v: %d entries", err, len(got.Manifests))
	}
	newestStripped, oldestKept := "", ""
	for _, d := range got.Manifests {
		c := d.Annotations[AnnotationCreated]
		if _, ok := embedded(d); ok {
			if oldestKept == "" || c < oldestKept {
				oldestKept = c
			}
		} else if c > newestStripped {
			newestStripped = c
		}
	}
	if oldestKept == "" || newestStripped == "" || newestStripped > oldestKept {
		t.Fatalf("kept embedded manifests from %q on, left out up to %q: want the oldest left out", oldestKept, newestStripped)
	}
}

// TestFallbackTagOfAnotherToolIsRefused: a sha256-<hex> tag that holds an image, not an index of
// referrers, is not overwritten: signing refuses, naming the tag and the fix.
func TestFallbackTagOfAnotherToolIsRefused(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	desc, err := remote.Get(r.platforms["linux/amd64"])
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(fallbackTag(r.index), desc); err != nil {
		t.Fatal(err)
	}
	err = storeOn(host).Sign(t.Context(), r.index, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true}))
	if fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), fallbackTag(r.index).String()+" holds a") || !strings.Contains(err.Error(), "delete that tag and sign again") {
		t.Fatalf("Sign over another tool's tag: class %v, %v", fault.Of(err), err)
	}
	if got, err := remote.Get(fallbackTag(r.index)); err != nil || got.Digest != desc.Digest {
		t.Fatalf("the tag was changed: %v %v", got, err)
	}
}
