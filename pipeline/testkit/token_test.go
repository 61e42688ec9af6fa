package testkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// do sends a request with optional Basic credentials or a bearer token and returns the answer.
func do(t *testing.T, method, u, user, pass, bearer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return send(t, req)
}

// send sends req and returns the answer and its body.
func send(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// tokenFor asks the token service for scope and returns the token ("" when refused).
func tokenFor(t *testing.T, host, scope, user, pass string) string {
	t.Helper()
	q := url.Values{"service": {"testkit"}, "scope": {scope}}
	resp, body := do(t, http.MethodGet, "http://"+host+TokenService+"?"+q.Encode(), user, pass, "")
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var tr struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.Token == "" {
		t.Fatalf("token answer %q: %v", body, err)
	}
	return tr.Token
}

func TestTokenService(t *testing.T) {
	srv := StartRegistry(t, RegistryOptions{Token: true, Username: "bot", Password: "pw-123456"})
	host := srv.Host
	// Unauthenticated: a Bearer challenge naming the realm, the service and the scope needed.
	resp, _ := do(t, http.MethodGet, "http://"+host+"/v2/", "", "", "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != fmt.Sprintf(`Bearer realm="http://%s/token",service="testkit"`, host) {
		t.Fatalf("ping: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = do(t, http.MethodPut, "http://"+host+"/v2/acme/app/manifests/1.0.0", "", "", "")
	if c := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(c, `scope="repository:acme/app:pull,push"`) {
		t.Fatalf("PUT without a token: %d %q", resp.StatusCode, c)
	}
	// A wrong password is refused; anonymous callers get pull only; the user gets push.
	if tok := tokenFor(t, host, "repository:acme/app:push,pull", "bot", "wrong-pass"); tok != "" || srv.Tokens.Refused() != 1 {
		t.Fatalf("wrong password got token %q (refused %d)", tok, srv.Tokens.Refused())
	}
	anon := tokenFor(t, host, "repository:acme/app:push,pull", "", "")
	resp, _ = do(t, http.MethodPut, "http://"+host+"/v2/acme/app/manifests/1.0.0", "", "", anon)
	if c := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(c, `error="insufficient_scope"`) {
		t.Fatalf("anonymous push: %d %q", resp.StatusCode, c)
	}
	if resp, _ := do(t, http.MethodGet, "http://"+host+"/v2/", "", "", anon); resp.StatusCode != 200 {
		t.Fatalf("ping with a token: %d", resp.StatusCode)
	}
	// go-containerregistry's own handshake works end to end, and is counted per scope.
	srv.Tokens.Reset()
	ref, _ := name.ParseReference(host+"/acme/app:1.0.0", name.Insecure)
	img, _ := random.Image(64, 1)
	auth := remote.WithAuth(&authn.Basic{Username: "bot", Password: "pw-123456"})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Get(ref, auth); err != nil {
		t.Fatal(err)
	}
	by := srv.Tokens.ByScope()
	if by["repository:acme/app:pull,push"] != 1 || by["repository:acme/app:pull"] != 1 || srv.Tokens.Requests() != 2 {
		t.Fatalf("tokens: %s", srv.Tokens)
	}
	// Revoked tokens are refused as invalid.
	tok := srv.Tokens.Issued()[len(srv.Tokens.Issued())-1]
	srv.RevokeTokens()
	resp, _ = do(t, http.MethodGet, "http://"+host+"/v2/acme/app/manifests/1.0.0", "", "", tok)
	if c := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(c, `error="invalid_token"`) {
		t.Fatalf("revoked token: %d %q", resp.StatusCode, c)
	}
}

// referrerOf pushes a referrer of subject with the given artifactType (config: the empty config).
func referrerOf(t *testing.T, subject name.Digest, artifactType string, i int) v1.Hash {
	t.Helper()
	desc, err := remote.Head(subject)
	if err != nil {
		t.Fatal(err)
	}
	l := static.NewLayer([]byte(fmt.Sprintf(`{"n":%d}`, i)), types.MediaType(artifactType))
	img, _ := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	img = mutate.ConfigMediaType(img, "application/vnd.oci.empty.v1+json")
	m, _ := img.Manifest()
	m = m.DeepCopy()
	m.ArtifactType = artifactType
	m.Subject = &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	raw, _ := json.Marshal(m)
	h, _, _ := v1.SHA256(strings.NewReader(string(raw)))
	for _, b := range []v1.Layer{l, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")} {
		if err := remote.WriteLayer(subject.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := putManifest(t, subject.Context().Digest(h.String()), raw)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT referrer: %d %s", resp.StatusCode, body)
	}
	return h
}

func putManifest(t *testing.T, ref name.Digest, raw []byte) (*http.Response, string) {
	t.Helper()
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", ref.RegistryStr(), ref.RepositoryStr(), ref.DigestStr())
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
	return send(t, req)
}

// page is one referrers answer.
type page struct {
	digests []string
	types   []string
	link    string
	filters string
}

func getPage(t *testing.T, u string) page {
	t.Helper()
	resp, body := do(t, http.MethodGet, u, "", "", "")
	var im v1.IndexManifest
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &im) != nil {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	p := page{link: resp.Header.Get("Link"), filters: resp.Header.Get("OCI-Filters-Applied")}
	for _, d := range im.Manifests {
		p.digests = append(p.digests, d.Digest.String())
		p.types = append(p.types, d.ArtifactType)
	}
	return p
}

func TestReferrersPagesAndFilter(t *testing.T) {
	host := Registry(t, RegistryOptions{Referrers: true, ReferrersPage: 2, ReferrersFilter: true})
	ref, _ := name.ParseReference(host+"/acme/app:seed", name.Insecure)
	img, _ := random.Image(64, 1)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	subject := ref.Context().Digest(d.String())
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		at := "application/vnd.example.sig"
		if i%2 == 1 {
			at = "application/vnd.example.sbom"
		}
		want[referrerOf(t, subject, at, i).String()] = true
	}
	base := "http://" + host + "/v2/acme/app/referrers/" + d.String()
	got := map[string]bool{}
	var sizes []int
	for u := base; u != ""; {
		p := getPage(t, u)
		sizes = append(sizes, len(p.digests))
		for i, dg := range p.digests {
			if got[dg] || !strings.HasPrefix(p.types[i], "application/vnd.example.") {
				t.Fatalf("page %s: %v %v", u, p.digests, p.types)
			}
			got[dg] = true
		}
		u = ""
		if p.link != "" {
			u = "http://" + host + strings.TrimSuffix(strings.TrimPrefix(p.link, "<"), `>; rel="next"`)
		}
	}
	if fmt.Sprint(sizes) != "[2 2 1]" || len(got) != len(want) {
		t.Fatalf("pages of %v, %d referrers listed, want [2 2 1] and %d", sizes, len(got), len(want))
	}
	f := getPage(t, base+"?artifactType=application/vnd.example.sbom")
	if len(f.digests) != 2 || f.link != "" || f.filters != "artifactType" || f.types[0] != "application/vnd.example.sbom" {
		t.Fatalf("filtered: %+v", f)
	}
}
