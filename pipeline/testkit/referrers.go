package testkit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// referrersAPI matches GET /v2/<name>/referrers/<digest>.
var referrersAPI = regexp.MustCompile(`^/v2/(.+)/referrers/(sha256:[0-9a-f]{64})$`)

// referrersFacade answers the OCI referrers API in front of go-containerregistry's registry as the
// distribution spec describes it, where that registry does not: each descriptor's artifactType is
// the referrer manifest's artifactType (else its config media type, where that registry always
// gives the config media type); with page > 0 the listing comes in pages of at most page descriptors (fewer when the
// client asks ?n=), sorted by digest, each but the last with a Link header to the next
// (?last=<digest>); with filter, ?artifactType= is applied and the answer says so with
// OCI-Filters-Applied.
type referrersFacade struct {
	next   http.Handler
	page   int
	filter bool
}

func (f referrersFacade) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := referrersAPI.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet || m == nil {
		f.next.ServeHTTP(w, r)
		return
	}
	inner := r.Clone(r.Context())
	inner.URL.RawQuery = ""
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, inner)
	var im v1.IndexManifest
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &im) != nil {
		copyAnswer(w, rec)
		return
	}
	want := r.URL.Query().Get("artifactType")
	out := im.Manifests
	sort.Slice(out, func(i, j int) bool { return out[i].Digest.String() < out[j].Digest.String() })
	fixed := false
	if f.filter && want != "" {
		out, fixed = f.fix(r, m[1], out), true
		out = slices.DeleteFunc(out, func(d v1.Descriptor) bool { return d.ArtifactType != want })
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if f.page > 0 {
		out = f.paginate(w, r, out)
	}
	if !fixed {
		out = f.fix(r, m[1], out)
	}
	im.Manifests = out
	if im.Manifests == nil {
		im.Manifests = []v1.Descriptor{}
	}
	body, _ := json.Marshal(im)
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// paginate cuts the page asked for (after ?last=) out of sorted and sets the Link to the next.
func (f referrersFacade) paginate(w http.ResponseWriter, r *http.Request, sorted []v1.Descriptor) []v1.Descriptor {
	q := r.URL.Query()
	n := f.page
	if asked, err := strconv.Atoi(q.Get("n")); err == nil && asked > 0 && asked < n {
		n = asked
	}
	if last := q.Get("last"); last != "" {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Digest.String() > last })
		sorted = sorted[i:]
	}
	if len(sorted) <= n {
		return sorted
	}
	page := sorted[:n]
	next := url.Values{"n": {strconv.Itoa(n)}, "last": {page[n-1].Digest.String()}}
	if at := q.Get("artifactType"); at != "" {
		next.Set("artifactType", at)
	}
	w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	return page
}

// fix gives every descriptor the artifactType the spec says it has.
func (f referrersFacade) fix(r *http.Request, repo string, ds []v1.Descriptor) []v1.Descriptor {
	for i := range ds {
		ds[i].ArtifactType = f.artifactType(r, repo, ds[i])
	}
	return ds
}

// artifactType is what the spec says a referrer's descriptor carries: the manifest's artifactType,
// else its config's media type.
func (f referrersFacade) artifactType(r *http.Request, repo string, d v1.Descriptor) string {
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/v2/"+repo+"/manifests/"+d.Digest.String(), nil)
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, req)
	var mf struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &mf) != nil {
		return d.ArtifactType
	}
	if mf.ArtifactType != "" {
		return mf.ArtifactType
	}
	return mf.Config.MediaType
}

// copyAnswer writes a recorded answer as it is.
func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
