package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Orphan is a referrers tag (sha256-<hex>) whose subject manifest no longer exists: the
// signatures and attestations it lists belong to nothing.
type Orphan struct {
	// Tag is the sha256-<hex> tag.
	Tag string
	// Digest is the index the tag holds.
	Digest v1.Hash
	// Subject is the missing manifest.
	Subject v1.Hash
	// Referrers are the manifests the index lists.
	Referrers []v1.Hash
	// Created is the newest org.opencontainers.image.created of the listed referrers; zero when
	// none says.
	Created time.Time
	// AgeKnown reports whether Created was told; without it the orphan's age cannot be told.
	AgeKnown bool
	// Old reports whether the orphan is older than the age asked for (false when unknown).
	Old bool
}

// Orphans is what ListOrphans found.
type Orphans struct {
	// Repository is the canonical repository name.
	Repository string
	// Found are the orphaned referrers tags.
	Found []Orphan
	// Limits say what could not be looked at.
	Limits []string
}

// Old are the orphans older than the age asked for: those a cleanup deletes.
func (o Orphans) Old() []Orphan {
	return slices.DeleteFunc(slices.Clone(o.Found), func(f Orphan) bool { return !f.Old })
}

// Lines describe what was found.
func (o Orphans) Lines() []string {
	var out []string
	for _, f := range o.Found {
		age := "age unknown: the registry does not tell when it was written, and no referrer says; not counted as old"
		if f.AgeKnown {
			age = "created " + f.Created.UTC().Format(time.RFC3339)
			if f.Old {
				age += ", old enough to delete"
			} else {
				age += ", too recent"
			}
		}
		out = append(out, fmt.Sprintf("orphan %s (%s, %d referrer(s)) of missing %s: %s", f.Tag, f.Digest, len(f.Referrers), f.Subject, age))
	}
	return append(out, o.Limits...)
}

var fallbackTagRE = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// ListOrphans finds, read-only, the referrers tags (sha256-<hex>, the referrers tag schema used
// on registries without the referrers API) of repository whose subject manifest no longer exists,
// and marks those older than olderThan at now (age from the referrers' creation annotation; a
// registry's OCI API tells no times). Untagged manifests, and referrers found only through the
// referrers API, cannot be listed through the OCI distribution API at all: Limits says so. On
// ghcr.io, the packages API lists untagged versions with their times. To delete orphans, pass
// their tags to PlanDelete as tags to delete.
func (c *Client) ListOrphans(ctx context.Context, repository string, olderThan time.Duration, now time.Time) (Orphans, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return Orphans{}, err
	}
	if olderThan < 0 {
		return Orphans{}, fault.BadInputf("orphans of %s: --older-than %s is negative", repo, olderThan)
	}
	s, err := c.session(ctx)
	if err != nil {
		return Orphans{}, err
	}
	var tags []string
	if err := c.listTags(ctx, repo, "sha256-", func(t string) {
		if fallbackTagRE.MatchString(t) {
			tags = append(tags, t)
		}
	}); err != nil {
		return Orphans{}, err
	}
	sort.Strings(tags)
	out := Orphans{Repository: repo.Name(), Limits: []string{
		"untagged manifests and referrers kept by the referrers API are not listable through the OCI distribution API: only sha256-<hex> referrers tags were checked (on ghcr.io, list untagged package versions through GitHub's packages API)",
	}}
	for _, t := range tags {
		subject := v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(t, "sha256-")}
		exists, err := c.manifestExists(ctx, s, repo.Digest(subject.String()))
		if err != nil {
			return Orphans{}, err
		}
		if exists {
			continue
		}
		desc, err := c.getTag(ctx, s, repo, t)
		if err != nil {
			return Orphans{}, err
		}
		if desc == nil {
			continue // deleted meanwhile
		}
		o := Orphan{Tag: t, Digest: desc.Digest, Subject: subject}
		if desc.MediaType.IsIndex() {
			if im, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest))); err == nil {
				for _, d := range im.Manifests {
					o.Referrers = append(o.Referrers, d.Digest)
					if ts, ok := d.Annotations[AnnotationCreated]; ok {
						if tm, err := time.Parse(time.RFC3339, ts); err == nil && tm.After(o.Created) {
							o.Created, o.AgeKnown = tm, true
						}
					}
				}
			}
		}
		o.Old = o.AgeKnown && now.Sub(o.Created) >= olderThan
		out.Found = append(out.Found, o)
	}
	return out, nil
}
