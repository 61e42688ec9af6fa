package githubserver

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func dsseBundle(predicateType string, digests ...string) []byte {
	var subj []any
	for i, d := range digests {
		subj = append(subj, map[string]any{"name": fmt.Sprintf("img%d", i), "digest": map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}})
	}
	st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subj, "predicateType": predicateType, "predicate": map[string]any{}})
	b, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": map[string]any{},
		"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(st), "payloadType": "application/vnd.in-toto+json", "signatures": []any{map[string]any{"sig": "AA=="}}}})
	return b
}

func messageBundle(digest string) []byte {
	raw, _ := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	b, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": map[string]any{},
		"messageSignature": map[string]any{"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(raw)}, "signature": "AA=="}})
	return b
}

var (
	dig1 = "sha256:" + strings.Repeat("a1", 32)
	dig2 = "sha256:" + strings.Repeat("b2", 32)
)

func TestAttestationsStoreAndListByDigest(t *testing.T) {
	s, _ := newServer(t, Options{PageSize: 2})
	api := s.APIURL() + "repos/acme/app/attestations"
	store := func(tok string, bundle []byte) answer {
		return call(t, "POST", api, tok, map[string]any{"bundle": json.RawMessage(bundle)})
	}
	a := store(readTok, dsseBundle("https://slsa.dev/provenance/v1", dig1))
	want(t, a, 403, "store without write")
	if a.header.Get("X-Accepted-GitHub-Permissions") != "attestations=write" {
		t.Fatalf("403 names %q", a.header.Get("X-Accepted-GitHub-Permissions"))
	}
	want(t, call(t, "POST", api, pushTok, map[string]any{}), 422, "no bundle")
	want(t, store(pushTok, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)), 422, "bundle without content")
	a = store(pushTok, dsseBundle("https://slsa.dev/provenance/v1", dig1, dig2))
	want(t, a, 201, "store provenance")
	if a.obj()["id"] == nil {
		t.Fatalf("no id: %s", a.raw)
	}
	want(t, store(pushTok, dsseBundle("https://spdx.dev/Document/v2.3", dig1)), 201, "store sbom")
	want(t, store(pushTok, messageBundle(dig1)), 201, "store message signature")
	want(t, call(t, "GET", api+"/"+dig2, noneTok, nil), 404, "private repository, stranger")
	want(t, call(t, "GET", api+"/sha256:"+strings.Repeat("c", 64), readTok, nil), 404, "no attestations for the digest")
	// Listing by digest: three for dig1, two on the first page, the rest behind an after cursor.
	first := call(t, "GET", api+"/"+dig1, readTok, nil)
	want(t, first, 200, "list")
	link := first.header.Get("Link")
	if n := len(first.obj()["attestations"].([]any)); n != 2 || !strings.Contains(link, "after=") {
		t.Fatalf("first page: %d items, Link %q", n, link)
	}
	next := strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">")
	second := call(t, "GET", next, readTok, nil)
	if n := len(second.obj()["attestations"].([]any)); n != 1 || second.header.Get("Link") != "" {
		t.Fatalf("second page: %s", second.raw)
	}
	item := first.obj()["attestations"].([]any)[0].(map[string]any)
	if item["repository_id"] == nil || item["bundle"].(map[string]any)["dsseEnvelope"] == nil {
		t.Fatalf("item %v", item)
	}
	prov := call(t, "GET", api+"/"+dig1+"?predicate_type=provenance", readTok, nil).obj()["attestations"].([]any)
	if len(prov) != 1 {
		t.Fatalf("predicate_type filter: %v", prov)
	}
	// Anyone may list the attestations of a public repository.
	want(t, call(t, "POST", s.APIURL()+"repos/acme/public/attestations", pushTok, map[string]any{"bundle": json.RawMessage(messageBundle(dig2))}), 201, "public store")
	want(t, call(t, "GET", s.APIURL()+"repos/acme/public/attestations/"+dig2, "", nil), 200, "anonymous list, public repository")
	if got := s.Attestations("acme/app"); len(got) != 3 || len(got[0].Subjects) != 2 || got[2].Subjects[0] != dig1 {
		t.Fatalf("stored %+v", got)
	}
}
