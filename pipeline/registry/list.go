package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Tag listings are paged: tagPageSize tags a page (every registry accepts n=100), at most
// maxTagPages pages. A listing that goes on beyond that fails naming the listing: nothing is
// concluded from a partial listing. Tests lower them.
var (
	tagPageSize = 100
	maxTagPages = 1000
)

// Candidate is a tag of a release candidate of a version.
type Candidate struct {
	// Tag is the tag (1.2.3-rc.4, 1.2.3-rc4, 1.2.3-rc.4-arm64).
	Tag string
	// N is the candidate number.
	N int
	// Arch is the per-arch suffix (amd64, arm-v7); empty for the candidate's index tag.
	Arch string
}

// CandidateTags lists the tags of repository that belong to candidates of v (a final X.Y.Z):
// X.Y.Z-rc.N and X.Y.Z-rcN, and their per-arch tags X.Y.Z-rc.N-<arch>, sorted by N, index tag
// first. It does not read the whole tag list when the registry keeps tags in lexical order (as the
// OCI distribution spec asks): it starts after "X.Y.Z-rc" (?last=) and stops at the first tag past
// the candidates. A registry that ignores ?last= or does not sort is read to the end. Pages are
// followed through the Link header, or through ?last= when a full page comes without one; a
// listing longer than the page limit fails naming the listing, never returns a partial answer.
func (c *Client) CandidateTags(ctx context.Context, repository string, v version.Version) ([]Candidate, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return nil, err
	}
	if v.IsZero() || v.IsPrerelease() {
		return nil, fault.BadInputf("list candidates in %s: give the final version X.Y.Z whose candidates to list, not %q", repo, v.String())
	}
	prefix := v.String() + "-rc"
	re := candidateRE(v)
	var out []Candidate
	err = c.listTags(ctx, repo, prefix, func(tag string) {
		if m := re.FindStringSubmatch(tag); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return
			}
			out = append(out, Candidate{Tag: tag, N: n, Arch: strings.TrimPrefix(m[2], "-")})
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.N != b.N {
			return a.N < b.N
		}
		if (a.Arch == "") != (b.Arch == "") {
			return a.Arch == ""
		}
		return a.Tag < b.Tag
	})
	return out, nil
}

// candidateRE matches X.Y.Z-rc.N, X.Y.Z-rcN and their -<arch> tags; group 1 is N, group 2 the
// -<arch> suffix.
func candidateRE(v version.Version) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(v.String()) + `-rc\.?(0|[1-9][0-9]{0,8})(-[a-z0-9]+(?:-v[0-9]+)?)?$`)
}

// tagPage is one answer of GET /v2/<name>/tags/list.
type tagPage struct {
	Tags []string `json:"tags"`
}

// listTags calls found for every tag of repo that starts with prefix (every tag when prefix is
// empty). With a prefix it starts at ?last=<prefix> and stops once an ordered listing has passed
// the prefix.
func (c *Client) listTags(ctx context.Context, repo name.Repository, prefix string, found func(tag string)) error {
	what := fmt.Sprintf("listing the tags of %s", repo)
	if prefix != "" {
		what = fmt.Sprintf("listing the tags of %s that start with %q", repo, prefix)
	}
	client, err := c.pullClient(ctx, repo)
	if err != nil {
		return c.fail("listing tags of", repo.Name(), repo.RegistryStr(), err)
	}
	base := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/tags/list", repo.RepositoryStr())}
	pageURL := func(last string) string {
		u := base
		q := url.Values{"n": {strconv.Itoa(tagPageSize)}}
		if last != "" {
			q.Set("last", last)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	last := prefix  // the ?last= sent with the request; "" when following a Link
	ordered := true // every page so far was sorted and started after last
	seen := map[string]bool{}
	next := pageURL(prefix)
	total := 0
	for page := 1; ; page++ {
		if page > maxTagPages {
			return fault.Unreadablef("%s: more than %d pages of %d tags (%d read) and still going: shipgate stops rather than decide on a partial listing; delete old tags or raise the limit", what, maxTagPages, tagPageSize, total)
		}
		tags, link, err := c.tagPage(ctx, client, repo, next)
		if err != nil {
			return err
		}
		total += len(tags)
		if !slices.IsSorted(tags) || (last != "" && len(tags) > 0 && tags[0] <= last) {
			ordered = false
		}
		var fresh []string
		for _, t := range tags {
			// A registry may answer ?last=X with tags up to X (go-containerregistry's does when no
			// tag follows X): those were seen, or are before the prefix.
			if (last != "" && t <= last) || seen[t] {
				continue
			}
			seen[t] = true
			fresh = append(fresh, t)
			if strings.HasPrefix(t, prefix) {
				found(t)
			}
		}
		if prefix != "" && ordered && len(tags) > 0 && tags[len(tags)-1] > prefix && !strings.HasPrefix(tags[len(tags)-1], prefix) {
			return nil // ordered, and past every tag with the prefix
		}
		switch {
		case link != "":
			next, last = link, ""
		case len(fresh) == 0 || len(tags) != tagPageSize:
			// A short page is the last; a longer one means the registry ignores ?n= (distribution
			// 2.x) and gave every tag.
			return nil
		default:
			last = slices.Max(fresh)
			next = pageURL(last)
		}
	}
}

// tagPage GETs one page of a tag listing and returns its tags and the Link to the next page.
func (c *Client) tagPage(ctx context.Context, client *http.Client, repo name.Repository, u string) ([]string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fault.BadInputf("listing tags of %s: %w", repo, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", c.fail("listing tags of", repo.Name(), repo.RegistryStr(), err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		if isNotFound(err) {
			return nil, "", nil // no repository yet: no tags
		}
		return nil, "", c.fail("listing tags of", repo.Name(), repo.RegistryStr(), err)
	}
	var p tagPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&p); err != nil {
		return nil, "", fault.Unreadablef("the tag listing of %s could not be read: %w", repo, err)
	}
	link, err := nextLink(resp, repo, "tag listing of "+repo.String())
	if err != nil {
		return nil, "", err
	}
	return p.Tags, link, nil
}

// nextLink is the rel="next" target of a Link header, resolved against the request and checked
// to stay on the registry; what names the listing in errors.
func nextLink(resp *http.Response, repo name.Repository, what string) (string, error) {
	h := resp.Header.Get("Link")
	if h == "" {
		return "", nil
	}
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "<") {
			continue
		}
		end := strings.Index(part, ">")
		if end < 0 || (strings.Contains(part[end:], "rel=") && !strings.Contains(part[end:], `rel="next"`) && !strings.Contains(part[end:], "rel=next")) {
			continue
		}
		u, err := url.Parse(part[1:end])
		if err != nil {
			return "", fault.Unreadablef("the %s has a Link header that is not a URL: %q", what, h)
		}
		if resp.Request != nil && resp.Request.URL != nil {
			u = resp.Request.URL.ResolveReference(u)
		}
		if u.Host != repo.RegistryStr() {
			return "", fault.Unreadablef("the %s links to another host (%s): refusing to follow it", what, u.Host)
		}
		return u.String(), nil
	}
	return "", nil
}
