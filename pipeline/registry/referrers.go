package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// maxReferrerPages bounds a referrers listing: a subject listed in more pages than this fails
// naming the listing, never returns a partial answer. Tests lower it.
var maxReferrerPages = 100

// maxReferrerPage bounds the size of one page of a referrers listing.
const maxReferrerPage = 16 << 20

// filtersApplied is the header a registry that applied ?artifactType= answers with.
const filtersApplied = "OCI-Filters-Applied"

// Referrers lists every referrer of subject (a manifest digest): through the OCI referrers API
// (GET /v2/<name>/referrers/<digest>), following its Link pages to the end, or, on a registry
// without the API (ghcr.io; asked once per registry and phase), from the index of the sha256-<hex>
// fallback tag. A subject without referrers, or a registry without the API and no such tag, gives
// none and no error. With artifactType, only referrers of that artifact type: the registry is
// asked to filter (?artifactType=) and the listing is filtered here unless it says it did
// (OCI-Filters-Applied). A listing longer than the page limit fails (Unreadable) naming the
// subject, never returns part of the referrers. Requests go through the client's session: no
// handshake of their own.
func (c *Client) Referrers(ctx context.Context, subject name.Digest, artifactType string) ([]v1.Descriptor, error) {
	repo, err := c.repository(subject.Context().Name())
	if err != nil {
		return nil, err
	}
	d, err := v1.NewHash(subject.DigestStr())
	if err != nil {
		return nil, fault.BadInputf("list referrers of %s: %w", subject, err)
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	l, err := c.listReferrers(ctx, s, repo, d, artifactType)
	if err != nil {
		return nil, err
	}
	if !l.api && l.fallback != nil && !l.fallback.MediaType.IsIndex() {
		return nil, fault.Unreadablef("the referrers tag %s:%s holds a %s, not an index of referrers: another tool wrote it; delete that tag and sign again", repo, fallbackTag(d), l.fallback.MediaType)
	}
	return l.manifests, nil
}

// referrerListing is what listReferrers found.
type referrerListing struct {
	// manifests are the referrers, each once, in the order listed.
	manifests []v1.Descriptor
	// api says the registry's referrers API answered; false: the sha256-<hex> tag was read.
	api bool
	// fallback is what the sha256-<hex> tag holds when it was read and exists.
	fallback *remote.Descriptor
}

// listReferrers lists subject's referrers in repo (see Referrers).
func (c *Client) listReferrers(ctx context.Context, s *session, repo name.Repository, subject v1.Hash, artifactType string) (referrerListing, error) {
	l, ok, err := c.referrersAPI(ctx, repo, subject, artifactType)
	if err != nil || ok {
		return l, err
	}
	fb, err := c.getTag(ctx, s, repo, fallbackTag(subject))
	if err != nil || fb == nil {
		return referrerListing{}, err
	}
	l = referrerListing{fallback: fb}
	if !fb.MediaType.IsIndex() {
		return l, nil
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(fb.Manifest)))
	if err != nil {
		return l, fault.Unreadablef("the referrers tag %s:%s cannot be read: %w", repo, fallbackTag(subject), err)
	}
	l.manifests = addReferrers(nil, map[v1.Hash]bool{}, im.Manifests, artifactType)
	return l, nil
}

// referrersAPI lists subject's referrers through the referrers API, page after page; ok is false
// when the registry has no referrers API (404, 400 or 406, or an answer that is not an index, as
// go-containerregistry decides it).
func (c *Client) referrersAPI(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) (_ referrerListing, ok bool, _ error) {
	what := fmt.Sprintf("listing the referrers of %s", repo.Digest(subject.String()))
	client, err := c.pullClient(ctx, repo)
	if err != nil {
		return referrerListing{}, false, c.fail("listing referrers of", repo.Digest(subject.String()).String(), repo.RegistryStr(), err)
	}
	u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/referrers/%s", repo.RepositoryStr(), subject)}
	if artifactType != "" {
		u.RawQuery = url.Values{"artifactType": {artifactType}}.Encode()
	}
	l := referrerListing{api: true}
	seen := map[v1.Hash]bool{}
	next := u.String()
	for page := 1; next != ""; page++ {
		if page > maxReferrerPages {
			return referrerListing{}, true, fault.Unreadablef("%s: more than %d pages (%d referrers read) and still going: shipgate stops rather than decide on a partial listing; delete old signatures and attestations of it (shipgate cleanup), then re-run", what, maxReferrerPages, len(l.manifests))
		}
		p, err := c.referrersPage(ctx, client, repo, subject, next, page == 1)
		if err != nil || p == nil {
			return referrerListing{}, false, err
		}
		filter := artifactType
		if p.filtered {
			filter = ""
		}
		l.manifests = addReferrers(l.manifests, seen, p.manifests, filter)
		next = p.next
	}
	return l, true, nil
}

// referrersPageAnswer is one page of the referrers API.
type referrersPageAnswer struct {
	manifests []v1.Descriptor
	next      string
	filtered  bool
}

// referrersPage GETs one page of a referrers listing; nil (and no error) when the first page says
// the registry has no referrers API.
func (c *Client) referrersPage(ctx context.Context, client *http.Client, repo name.Repository, subject v1.Hash, u string, first bool) (*referrersPageAnswer, error) {
	ref := repo.Digest(subject.String()).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fault.BadInputf("listing referrers of %s: %w", ref, err)
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := client.Do(req)
	if err != nil {
		return nil, c.fail("listing referrers of", ref, repo.RegistryStr(), err)
	}
	defer resp.Body.Close()
	isIndex := resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex))
	var im v1.IndexManifest
	read := func() error { return json.NewDecoder(io.LimitReader(resp.Body, maxReferrerPage)).Decode(&im) }
	switch {
	case isIndex:
		if err := read(); err != nil {
			return nil, fault.Unreadablef("the referrers listing of %s cannot be read: %w", ref, err)
		}
	case resp.StatusCode == http.StatusOK:
		// An index labelled otherwise (application/json) is still the API's answer: writes
		// (go-containerregistry's) take any 200 for the API, and reads must look where they write.
		isIndex = read() == nil && (im.MediaType.IsIndex() || im.SchemaVersion == 2)
	}
	switch {
	case first && !isIndex && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotAcceptable):
		return nil, nil
	case !isIndex:
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return nil, c.fail("listing referrers of", ref, repo.RegistryStr(), err)
		}
		return nil, fault.Unreadablef("a page of the referrers of %s is a %q, not an OCI index: check --image and any proxy between here and the registry, then re-run", ref, resp.Header.Get("Content-Type"))
	}
	next, err := nextLink(resp, repo, "referrers listing of "+ref)
	if err != nil {
		return nil, err
	}
	filtered := false
	for _, f := range strings.Split(resp.Header.Get(filtersApplied), ",") {
		filtered = filtered || strings.TrimSpace(f) == "artifactType"
	}
	return &referrersPageAnswer{manifests: im.Manifests, next: next, filtered: filtered}, nil
}

// addReferrers appends to out the descriptors of in not seen yet and, with artifactType, of that
// artifact type only.
func addReferrers(out []v1.Descriptor, seen map[v1.Hash]bool, in []v1.Descriptor, artifactType string) []v1.Descriptor {
	for _, d := range in {
		if seen[d.Digest] || (artifactType != "" && d.ArtifactType != artifactType) {
			continue
		}
		seen[d.Digest] = true
		out = append(out, d)
	}
	return out
}

// pullClient is an HTTP client for repo with pull rights, for the listings go-containerregistry
// cannot make (tags from ?last=, referrers pages): its handshake is the session's (the kept ping
// and token), its transport the client's (plain-HTTP rule, retries, scrubbing, cache).
func (c *Client) pullClient(ctx context.Context, repo name.Repository) (*http.Client, error) {
	rt, err := transport.NewWithContext(ctx, repo.Registry, c.auth, c.cache.over(c.guard()), []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt}, nil
}
