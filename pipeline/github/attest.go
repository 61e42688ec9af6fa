package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/sigbundle"
)

// GitHub's repository attestations API (go-github v62 has none: requests are made with the
// client's NewRequest/Do). Storing needs "attestations: write" (and id-token: write in the
// workflow that signs); listing needs "attestations: read" on a private repository.

var subjectDigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func checkSubjectDigest(d string) error {
	if !subjectDigestRE.MatchString(d) {
		return fault.BadInputf("attestation subject digest %q: want sha256:<64 lowercase hex>", d)
	}
	return nil
}

// StoreAttestation stores a sigstore bundle (its JSON) in r's attestation store, where
// `gh attestation verify` finds it, and returns its id. It is not idempotent: EnsureAttestation
// stores a bundle once.
func (c *Client) StoreAttestation(ctx context.Context, r Repo, bundleJSON []byte) (int64, error) {
	if !json.Valid(bundleJSON) {
		return 0, fault.BadInputf("store attestation in %s: the bundle is not JSON", r)
	}
	op := fmt.Sprintf("store an attestation in %s", r)
	body := map[string]json.RawMessage{"bundle": bundleJSON}
	req, err := c.gh.NewRequest("POST", fmt.Sprintf("repos/%s/%s/attestations", r.Owner, r.Name), body)
	if err != nil {
		return 0, fault.BadInputf("%s: %w", op, err)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if _, err := c.gh.Do(ctx, req, &out); err != nil {
		return 0, c.wrap(err, op, r, "attestations: write")
	}
	return out.ID, nil
}

// Attestations returns the bundles (JSON) stored in r for subjectDigest ("sha256:hex"), oldest
// first, following the "after" cursor; none (GitHub's 404 for a repository the token can see) is
// an empty list.
func (c *Client) Attestations(ctx context.Context, r Repo, subjectDigest string) ([][]byte, error) {
	if err := checkSubjectDigest(subjectDigest); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("list the attestations of %s in %s", subjectDigest, r)
	var all [][]byte
	after := ""
	for i := 0; i < maxPages; i++ {
		u := fmt.Sprintf("repos/%s/%s/attestations/%s?per_page=100", r.Owner, r.Name, url.PathEscape(subjectDigest))
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		req, err := c.gh.NewRequest("GET", u, nil)
		if err != nil {
			return nil, fault.BadInputf("%s: %w", op, err)
		}
		var page struct {
			Attestations []struct {
				Bundle json.RawMessage `json:"bundle"`
			} `json:"attestations"`
		}
		resp, err := c.gh.Do(ctx, req, &page)
		if err = c.wrap(err, op, r, "attestations: read"); IsNotFound(err) {
			// GitHub answers 404 for no attestations and for a repository the token cannot see.
			if _, perr := c.repoPermissions(ctx, r); perr != nil {
				return nil, perr
			}
			return all, nil
		}
		if err != nil {
			return nil, err
		}
		for _, a := range page.Attestations {
			all = append(all, []byte(a.Bundle))
		}
		if after = nextAfter(resp); after == "" {
			return all, nil
		}
	}
	return nil, fault.Unreadablef("%s: more than %d pages and still going", op, maxPages)
}

func nextAfter(resp *gh.Response) string {
	if resp == nil {
		return ""
	}
	return resp.After
}

// AttestationOutcome says what EnsureAttestation did.
type AttestationOutcome struct {
	// Stored is false when an identical bundle was already stored for the digest.
	Stored bool
	// ID is the new attestation's id (0 when nothing was stored).
	ID int64
}

// EnsureAttestation stores bundleJSON for subjectDigest unless an identical bundle (same JSON,
// whatever its formatting) is stored for that digest already, so re-runs store no duplicates.
// The bundle must name subjectDigest (an in-toto subject, or the signed message digest): BadInput
// otherwise, before anything is sent. A store whose answer was lost is looked up before it is
// repeated.
func (c *Client) EnsureAttestation(ctx context.Context, r Repo, subjectDigest string, bundleJSON []byte) (AttestationOutcome, error) {
	if err := checkSubjectDigest(subjectDigest); err != nil {
		return AttestationOutcome{}, err
	}
	subjects, err := BundleSubjects(bundleJSON)
	if err != nil {
		return AttestationOutcome{}, err
	}
	if !slices.Contains(subjects, subjectDigest) {
		return AttestationOutcome{}, fault.BadInputf("the attestation bundle for %s names other subjects (%s): it attests another artifact", subjectDigest, strings.Join(subjects, ", "))
	}
	observe := func() (AttestationOutcome, bool, error) {
		stored, err := c.Attestations(ctx, r, subjectDigest)
		if err != nil {
			return AttestationOutcome{}, false, err
		}
		return AttestationOutcome{}, slices.ContainsFunc(stored, func(b []byte) bool { return sameJSON(b, bundleJSON) }), nil
	}
	if _, found, err := observe(); err != nil || found {
		return AttestationOutcome{}, err
	}
	return retryWrite(ctx, c, func() (AttestationOutcome, error) {
		id, err := c.StoreAttestation(ctx, r, bundleJSON)
		return AttestationOutcome{Stored: err == nil, ID: id}, err
	}, observe)
}

// sameJSON compares two JSON documents by content: key order and spacing do not matter.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return bytes.Equal(ca, cb)
}

// BundleSubjects reads the digests a sigstore bundle attests ("sha256:hex"): the subjects of the
// in-toto statement in its DSSE envelope, or the digest of the message it signs. A bundle that
// names none is BadInput.
func BundleSubjects(bundleJSON []byte) ([]string, error) {
	c, err := sigbundle.Read(bundleJSON)
	if err != nil {
		return nil, fault.BadInputf("the attestation bundle cannot be read (%w): give a sigstore bundle as cosign or shipgate writes it", err)
	}
	return c.Subjects, nil
}

// HasAttestation reports, without writing, whether GitHub's attestation store of r already holds
// bundleJSON for subjectDigest (compared by JSON content, not formatting).
func (c *Client) HasAttestation(ctx context.Context, r Repo, subjectDigest string, bundleJSON []byte) (bool, error) {
	stored, err := c.Attestations(ctx, r, subjectDigest)
	if err != nil {
		return false, err
	}
	for _, b := range stored {
		if sameJSON(b, bundleJSON) {
			return true, nil
		}
	}
	return false, nil
}
