package github

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// CandidateTag is a git tag of a release candidate.
type CandidateTag struct {
	// Tag is the tag name (v1.2.3-rc.4, 1.2.3-rc4).
	Tag string
	// N is the candidate number.
	N int
	// SHA is the commit the tag points at (an annotated tag peeled).
	SHA string
}

// CandidateRelease is a GitHub release of a candidate tag.
type CandidateRelease struct {
	ID         int64
	Tag        string
	N          int
	Draft      bool
	Prerelease bool
	URL        string
}

// candidateTagRE matches <prefix>X.Y.Z-rc.N and <prefix>X.Y.Z-rcN; group 1 is N.
func candidateTagRE(v version.Version, prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix+v.String()) + `-rc\.?(0|[1-9][0-9]{0,8})$`)
}

func checkCandidateArgs(v version.Version, prefix string) error {
	if v.IsZero() || v.IsPrerelease() {
		return fault.BadInputf("candidates: give the final version X.Y.Z whose candidates to find, not %q", v.String())
	}
	if strings.ContainsAny(prefix, " /\t\n~^:?*[\\") {
		return fault.BadInputf("tag prefix %q is not valid in a git tag name: use v, or nothing for bare X.Y.Z tags", prefix)
	}
	return nil
}

// CandidateGitTags lists the git tags of v's candidates in r: <prefix>X.Y.Z-rc.N and
// <prefix>X.Y.Z-rcN (prefix "v" by default in shipgate, "" for bare tags), sorted by N. One
// matching-refs listing of refs/tags/<prefix>X.Y.Z-rc (paginated), never the whole tag list.
func (c *Client) CandidateGitTags(ctx context.Context, r Repo, v version.Version, prefix string) ([]CandidateTag, error) {
	if err := checkCandidateArgs(v, prefix); err != nil {
		return nil, err
	}
	re := candidateTagRE(v, prefix)
	refs, err := listAll(func(o gh.ListOptions) ([]*gh.Reference, *gh.Response, error) {
		return c.gh.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &gh.ReferenceListOptions{Ref: "tags/" + prefix + v.String() + "-rc", ListOptions: o})
	})
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("list the candidate tags %s%s-rc* of %s", prefix, v, r), r, "contents: read")
	}
	var out []CandidateTag
	for _, ref := range refs {
		tag := strings.TrimPrefix(ref.GetRef(), "refs/tags/")
		if m := re.FindStringSubmatch(tag); m != nil {
			n, _ := strconv.Atoi(m[1])
			// An annotated tag (made by hand or another tool) is peeled to its commit: one more
			// request for it; shipgate's own tags are lightweight.
			sha, err := c.peel(ctx, r, ref.GetObject(), fmt.Sprintf("read the candidate tag %s of %s", tag, r))
			if err != nil {
				return nil, err
			}
			out = append(out, CandidateTag{Tag: tag, N: n, SHA: sha})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N < out[j].N || (out[i].N == out[j].N && out[i].Tag < out[j].Tag) })
	return out, nil
}

// CandidateReleases lists the releases of v's candidates in r, drafts included, sorted by N:
// the published ones through GitHub's by-tag endpoint for each candidate git tag, the drafts
// through the records shipgate keeps of the drafts it makes (one matching-refs listing of
// DraftRecordPrefix<prefix>X.Y.Z-rc). Its cost follows the number of candidates, not the
// repository's history; only a draft record whose draft cannot be read (a crash while making it),
// or more than 20 candidate tags (where a listing is cheaper), make it list the releases once. A token that cannot see drafts (no push) is refused: the
// answer would miss them.
func (c *Client) CandidateReleases(ctx context.Context, r Repo, v version.Version, prefix string) ([]CandidateRelease, error) {
	if err := checkCandidateArgs(v, prefix); err != nil {
		return nil, err
	}
	if err := c.checkSeesDrafts(ctx, r); err != nil {
		return nil, err
	}
	re := candidateTagRE(v, prefix)
	tags, err := c.CandidateGitTags(ctx, r, v, prefix)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*gh.RepositoryRelease{}
	if len(tags) > byTagLimit {
		// Many candidates: one listing (pages of 100, drafts included for a token that can push)
		// costs less than a request per candidate.
		if err := c.listCandidates(ctx, r, re, byID); err != nil {
			return nil, err
		}
		return candidateReleases(byID, re), nil
	}
	for _, t := range tags {
		rel, err := c.publishedRelease(ctx, r, t.Tag)
		if err != nil {
			return nil, err
		}
		if rel != nil {
			byID[rel.GetID()] = rel
		}
	}
	pending, err := c.recordedCandidates(ctx, r, v, prefix, re, byID)
	if err != nil {
		return nil, err
	}
	for _, rel := range byID {
		delete(pending, rel.GetTagName())
	}
	if len(pending) > 0 {
		// A pending record: the draft may exist without an id record. Listing tells.
		if err := c.listCandidates(ctx, r, re, byID); err != nil {
			return nil, err
		}
	}
	return candidateReleases(byID, re), nil
}

// listCandidates lists every release once and keeps the candidates'.
func (c *Client) listCandidates(ctx context.Context, r Repo, re *regexp.Regexp, byID map[int64]*gh.RepositoryRelease) error {
	all, err := c.listReleases(ctx, r)
	if err != nil {
		return err
	}
	for _, rel := range all {
		if re.MatchString(rel.GetTagName()) {
			byID[rel.GetID()] = rel
		}
	}
	return nil
}

// recordedCandidates reads shipgate's draft records of the candidates: drafts recorded by id go
// into byID; it returns the tags with only a pending record.
func (c *Client) recordedCandidates(ctx context.Context, r Repo, v version.Version, prefix string, re *regexp.Regexp, byID map[int64]*gh.RepositoryRelease) (map[string]bool, error) {
	recPrefix := DraftRecordPrefix + prefix + v.String() + "-rc"
	refs, err := listAll(func(o gh.ListOptions) ([]*gh.Reference, *gh.Response, error) {
		return c.gh.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &gh.ReferenceListOptions{Ref: strings.TrimPrefix(recPrefix, "refs/"), ListOptions: o})
	})
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("read shipgate's draft records of %s%s-rc* in %s", prefix, v, r), r, "contents: read")
	}
	pending := map[string]bool{}
	for _, ref := range refs {
		tag, rec, ok := strings.Cut(strings.TrimPrefix(ref.GetRef(), DraftRecordPrefix), "/")
		if !ok || !re.MatchString(tag) {
			continue
		}
		if rec == "pending" {
			pending[tag] = true // lost, unless the tag has a readable draft
			continue
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(rec, "id-"), 10, 64)
		if !strings.HasPrefix(rec, "id-") || err != nil || byID[id] != nil {
			continue
		}
		found, err := c.recordedDrafts(ctx, r, tag, []int64{id})
		if err != nil {
			return nil, err
		}
		for _, rel := range found {
			byID[rel.GetID()] = rel
		}
	}
	return pending, nil
}

// byTagLimit is how many candidate tags CandidateReleases looks up one by one before it lists the
// releases instead (20 requests cost as much as listing 2,000 releases).
const byTagLimit = 20

func candidateReleases(byID map[int64]*gh.RepositoryRelease, re *regexp.Regexp) []CandidateRelease {
	var out []CandidateRelease
	for _, rel := range byID {
		m := re.FindStringSubmatch(rel.GetTagName())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		out = append(out, CandidateRelease{ID: rel.GetID(), Tag: rel.GetTagName(), N: n, Draft: rel.GetDraft(), Prerelease: rel.GetPrerelease(), URL: rel.GetHTMLURL()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N < out[j].N || (out[i].N == out[j].N && out[i].ID < out[j].ID) })
	return out
}

// DeleteCandidateRelease deletes a candidate's release (a draft or a pre-release; a full release
// is refused) and shipgate's draft records of it. A release already gone is success. Delete
// releases before their git tags: GitHub turns a published release whose tag is deleted into a
// draft.
func (c *Client) DeleteCandidateRelease(ctx context.Context, r Repo, rel CandidateRelease) error {
	if rel.ID <= 0 {
		return fault.BadInputf("delete candidate release %s of %s: no release id", rel.Tag, r)
	}
	if !rel.Draft && !rel.Prerelease {
		return fault.Refusedf("release %s (%d) of %s is a full release, not a draft or pre-release: cleanup deletes only candidates' drafts and pre-releases", rel.Tag, rel.ID, r)
	}
	op := fmt.Sprintf("delete release %s (%d) of %s", rel.Tag, rel.ID, r)
	_, err := c.gh.Repositories.DeleteRelease(idempotent(ctx), r.Owner, r.Name, rel.ID)
	if err = c.wrap(err, op, r, "contents: write"); err != nil && !IsNotFound(err) {
		return err
	}
	c.logf("deleted release %s (%d) of %s", rel.Tag, rel.ID, r)
	for _, rec := range []string{"id-" + strconv.FormatInt(rel.ID, 10), "pending"} {
		if err := c.deleteRef(ctx, r, strings.TrimPrefix(DraftRecordPrefix, "refs/")+rel.Tag+"/"+rec); err != nil {
			return err
		}
	}
	return nil
}

// DeleteGitTag deletes the tag ref refs/tags/<tag>; a tag already gone is success. GitHub refuses
// (422) to delete the tag of an immutable published release.
func (c *Client) DeleteGitTag(ctx context.Context, r Repo, tag string) error {
	if tag == "" || strings.ContainsAny(tag, " ~^:?*[\\") {
		return fault.BadInputf("delete tag %q of %s: not a tag name", tag, r)
	}
	return c.deleteRef(ctx, r, "tags/"+tag)
}

// deleteRef deletes refs/<ref>; gone already (GitHub: 422 "Reference does not exist") is success.
// A 404 is not: it means the repository is not visible to the token.
func (c *Client) deleteRef(ctx context.Context, r Repo, ref string) error {
	_, err := c.gh.Git.DeleteRef(idempotent(ctx), r.Owner, r.Name, ref)
	if err == nil {
		return nil
	}
	err = c.wrap(err, fmt.Sprintf("delete refs/%s of %s", ref, r), r, "contents: write")
	switch s := StatusOf(err); {
	case s == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "Reference does not exist"):
		return nil
	case s == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "immutable"):
		return fault.Refusedf("%w: the tag belongs to an immutable published release and can never be deleted", err)
	}
	return err
}
