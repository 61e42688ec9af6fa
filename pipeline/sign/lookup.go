package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Signed says whether subject carries a signature (as `cosign sign` makes) that verifies under p.
// It only reads. A missing or rejected signature is false with no error. An error is classified
// (package fault): the registry could not be reached (Unreachable), what it holds could not be
// read — every bundle found is malformed (Unreadable) — or the policy is incomplete (BadInput).
func (s *Store) Signed(ctx context.Context, subject name.Digest, p Policy) (bool, error) {
	return s.Attested(ctx, subject, SignaturePredicateType, p, nil)
}

// Attested says whether subject carries an attestation of predicateType that verifies under p
// and passes check (nil: no further check). It only reads; see Signed for errors.
func (s *Store) Attested(ctx context.Context, subject name.Digest, predicateType string, p Policy, check func(Statement) error) (bool, error) {
	v, err := s.lookupUnder(ctx, p, subject, predicateType, check)
	if err != nil {
		return false, err
	}
	if v.class() == fault.Unreadable {
		return false, fault.Unreadablef("%s", v.reason(subject, predicateType))
	}
	return v.ok, nil
}

// Bundle returns the sigstore bundle (JSON, as stored) of the newest attestation of
// predicateType on subject that verifies under p — for a second home such as GitHub's attestation
// store. None is a Refused error saying why; other errors are classified as for Signed.
func (s *Store) Bundle(ctx context.Context, subject name.Digest, predicateType string, p Policy) ([]byte, error) {
	v, err := s.lookupUnder(ctx, p, subject, predicateType, nil)
	if err != nil {
		return nil, err
	}
	if !v.ok {
		return nil, fault.Wrap(v.class(), errors.New(v.reason(subject, predicateType)))
	}
	if v.fromLegacy {
		return nil, fault.Refusedf("the attestation of type %s on %s is in cosign's older tag-based format (tag %s), which is not a sigstore bundle: sign again in the bundle format with cosign v3: %s", predicateType, subject.DigestStr(), v.legacyTag, v.resign)
	}
	return v.bundle, nil
}

// lookupUnder is one lookup of subject for predicateType under p (and check, when not nil), on a
// connection of its own: the policy is checked first, then the registry options.
func (s *Store) lookupUnder(ctx context.Context, p Policy, subject name.Digest, predicateType string, check func(Statement) error) (verdict, error) {
	c, err := newChecker(p)
	if err != nil {
		return verdict{}, err
	}
	cn, err := s.conn(ctx)
	if err != nil {
		return verdict{}, err
	}
	return lookup(ctx, cn, c, subject, predicateType, check)
}

// VerifyBundle verifies a sigstore bundle held somewhere else than the registry (GitHub's
// attestation store) as the store verifies its referrers: under p, for subject, of predicateType.
func VerifyBundle(raw []byte, subject name.Digest, predicateType string, p Policy) (Statement, error) {
	c, err := newChecker(p)
	if err != nil {
		return Statement{}, err
	}
	return c.accept(raw, subject, predicateType, nil)
}

// verdict is what a lookup found for one subject and predicate type.
type verdict struct {
	ok        bool
	statement Statement
	// bundle is the accepted bundle, as stored.
	bundle []byte
	// size is the accepted bundle's size in bytes (for the older format: the signed payload's).
	size int
	// candidates counts what was examined: bundles of the predicate type (or of unknown type),
	// and signatures in cosign's older format.
	candidates int
	// bundles counts the candidates that are bundles.
	bundles int
	// unreadable counts the candidates that could not be read (malformed, oversized).
	unreadable int
	// rejected says why each examined bundle was not accepted.
	rejected []string

	// legacyTag names the tag in cosign's older format (sha256-<hex>.sig or .att), read when no
	// bundle was accepted; empty when there is none.
	legacyTag string
	// legacyExamined counts its signatures examined for the predicate type; legacyRejected says
	// why each was not accepted.
	legacyExamined int
	legacyRejected []string
	// resign is the cosign command that signs the subject again in the bundle format.
	resign string
	// fromLegacy says the accepted signature is in the older format (bundle is then empty).
	fromLegacy bool
}

// class is how a lookup that accepted nothing failed: Unreadable when every bundle examined was
// unreadable, Refused otherwise (nothing there, or bundles that do not verify).
func (v verdict) class() fault.Class {
	switch {
	case v.ok:
		return fault.Unknown
	case v.candidates > 0 && v.unreadable == v.candidates:
		return fault.Unreadable
	}
	return fault.Refused
}

func (v verdict) reason(subject name.Digest, predicateType string) string {
	if v.ok {
		return ""
	}
	s := fmt.Sprintf("no sigstore bundle with predicate type %s refers to %s", predicateType, subject.DigestStr())
	if v.bundles > 0 || len(v.rejected) > 0 {
		s = fmt.Sprintf("%d bundle(s) found, none accepted: %s", v.bundles, strings.Join(v.rejected, "; "))
	}
	if v.legacyTag == "" {
		return s
	}
	noun, of := "attestation", " of predicate type "+predicateType
	if predicateType == SignaturePredicateType {
		noun, of = "signature", ""
	}
	held := "holds no " + noun + of
	if len(v.legacyRejected) > 0 {
		if v.legacyExamined != 1 {
			noun += "s"
		}
		held = fmt.Sprintf("holds %d %s%s, none accepted: %s", v.legacyExamined, noun, of, strings.Join(v.legacyRejected, "; "))
	}
	return fmt.Sprintf("%s; the tag %s in cosign's older tag-based format %s; sign again in the bundle format with cosign v3 (its default format): %s", s, v.legacyTag, held, v.resign)
}

// lookup lists the referrers of subject and verifies candidate bundles, newest first, until one
// is accepted. Its error is a registry that could not be read; bundles that cannot be read or do
// not verify are in the verdict.
func lookup(ctx context.Context, cn conn, c *checker, subject name.Digest, predicateType string, check func(Statement) error) (verdict, error) {
	return newReferrerSet(cn, subject).lookup(ctx, c, predicateType, check)
}

// referrerSet is one subject's referrers, as the Store listed them, each bundle fetched at most
// once, however many requirements look at them (concurrently, too).
type referrerSet struct {
	cn      conn
	subject name.Digest

	mu         sync.Mutex
	fetches    map[v1.Hash]*fetched
	legacyTags map[string]*legacyTag // by suffix, ".sig" or ".att"
}

// fetched is one referrer's bundle, fetched once.
type fetched struct {
	once          sync.Once
	b             []byte
	isBundle      bool
	predicateType string // what the bundle's statement says, unverified: for routing only
	err           error
}

func newReferrerSet(cn conn, subject name.Digest) *referrerSet {
	return &referrerSet{cn: cn, subject: subject, fetches: map[v1.Hash]*fetched{}, legacyTags: map[string]*legacyTag{}}
}

// listing is the subject's referrers, listed once per Store (see Store.listing).
func (r *referrerSet) listing(ctx context.Context) ([]v1.Descriptor, error) {
	return r.cn.store.listing(ctx, r.subject)
}

func (r *referrerSet) bundle(d v1.Descriptor) *fetched {
	r.mu.Lock()
	f := r.fetches[d.Digest]
	if f == nil {
		f = &fetched{}
		r.fetches[d.Digest] = f
	}
	r.mu.Unlock()
	f.once.Do(func() {
		f.b, f.isBundle, f.err = fetchBundle(r.cn, r.subject, d)
		if f.err == nil && f.isBundle {
			f.predicateType = peekPredicateType(f.b)
		}
	})
	return f
}

// lookup verifies the subject's candidate bundles of predicateType, newest first, until one is
// accepted. A bundle whose own statement names another predicate type is routed elsewhere
// without being verified here (a routing hint: skipping never accepts anything). When no bundle
// is accepted, the signatures of cosign's older tag-based format are looked at (and only then:
// the normal path makes no request for them).
func (r *referrerSet) lookup(ctx context.Context, c *checker, predicateType string, check func(Statement) error) (verdict, error) {
	var v verdict
	listed, err := r.listing(ctx)
	if err != nil {
		return v, err
	}
	cands := candidates(listed, predicateType)
	if len(cands) > maxCandidates {
		v.rejected = append(v.rejected, fmt.Sprintf("%d older referrers not examined", len(cands)-maxCandidates))
		cands = cands[:maxCandidates]
	}
	for _, d := range cands {
		f := r.bundle(d)
		err := f.err
		switch {
		case err != nil && fault.Of(err) != fault.Unreadable:
			return v, err
		case err == nil && !f.isBundle:
			continue
		case err == nil && f.predicateType != "" && f.predicateType != predicateType:
			continue
		}
		v.candidates++
		v.bundles++
		if err == nil {
			var st Statement
			if st, err = c.accept(f.b, r.subject, predicateType, check); err == nil {
				v.ok, v.statement, v.size, v.bundle = true, st, len(f.b), f.b
				return v, nil
			}
		}
		if fault.Of(err) == fault.Unreadable {
			v.unreadable++
		}
		v.rejected = append(v.rejected, fmt.Sprintf("referrer %s: %v", short(d.Digest), err))
	}
	return v, r.lookupLegacy(c, predicateType, check, &v)
}

// peekPredicateType reads, without verifying anything, the predicate type a bundle's DSSE
// statement names; empty when it cannot tell.
func peekPredicateType(raw []byte) string {
	var b struct {
		DSSEEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if json.Unmarshal(raw, &b) != nil || b.DSSEEnvelope.Payload == "" {
		return ""
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return ""
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return ""
	}
	return st.PredicateType
}

// candidates are the listed referrers that may be bundles of predicateType, newest first. The
// listing's artifact type and predicate-type annotation are hints only: skipping never accepts.
func candidates(listed []v1.Descriptor, predicateType string) []v1.Descriptor {
	var cands []v1.Descriptor
	for _, d := range listed {
		pt, hasPT := d.Annotations[AnnotationPredicateType]
		isBundle := strings.HasPrefix(d.ArtifactType, bundleMediaTypePrefix)
		unknown := !isBundle && !hasPT && (d.ArtifactType == "" || d.ArtifactType == emptyConfigMediaType)
		switch {
		case hasPT && pt != predicateType:
		case isBundle || hasPT || unknown:
			cands = append(cands, d)
		}
	}
	// Newest first, by the created annotation (RFC 3339 UTC sorts as text).
	sort.SliceStable(cands, func(i, j int) bool {
		return cands[i].Annotations[AnnotationCreated] > cands[j].Annotations[AnnotationCreated]
	})
	return cands
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

// fetchBundle reads the bundle a referrer manifest holds; isBundle is false when the referrer is
// not a sigstore bundle. The manifest embedded in the listing's descriptor, and the bundle
// embedded in the manifest's layer descriptor, are used when they are the content their
// descriptor names (digest and size); what is not is fetched by digest as if nothing were
// embedded. Registry errors are classified by the store's Registry; a bundle over the size limit
// is Unreadable.
func fetchBundle(cn conn, subject name.Digest, d v1.Descriptor) (_ []byte, isBundle bool, _ error) {
	raw, ok := embedded(d)
	if !ok {
		ref := subject.Context().Digest(d.Digest.String())
		desc, err := remote.Get(ref, cn.opts...)
		if err != nil {
			if isNotFound(err) {
				// Listed but gone (deleted, or a stale fallback index): nothing to verify.
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("read referrer %s of %s: %w", d.Digest, subject, cn.fail("reading", ref, err))
		}
		raw = desc.Manifest
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, false, nil
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleMediaTypePrefix) {
		return nil, false, nil
	}
	layer := m.Layers[0]
	if layer.Size > maxBundleSize {
		return nil, true, fault.Unreadablef("holds a %d-byte bundle, over the %d-byte limit", layer.Size, maxBundleSize)
	}
	if b, ok := embedded(layer); ok {
		return b, true, nil
	}
	b, err := readBlob(cn, subject.Context().Digest(layer.Digest.String()))
	if err != nil {
		return nil, true, fmt.Errorf("read bundle of referrer %s of %s: %w", d.Digest, subject, err)
	}
	return b, true, nil
}

// accept verifies one bundle for subject under the checker's policy, and returns its statement.
// A bundle that cannot be read is Unreadable; one that does not verify, or says something else
// than asked, is Refused.
func (c *checker) accept(raw []byte, subject name.Digest, predicateType string, check func(Statement) error) (Statement, error) {
	b := &sgbundle.Bundle{}
	if err := b.UnmarshalJSON(raw); err != nil {
		return Statement{}, fault.Unreadablef("not a valid sigstore bundle: %w", err)
	}
	return c.acceptEntity(b, subject, predicateType, check)
}

// acceptEntity is accept for a bundle already decoded (or put together from cosign's older
// format): the one place that judges a DSSE statement.
func (c *checker) acceptEntity(b *sgbundle.Bundle, subject name.Digest, predicateType string, check func(Statement) error) (Statement, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return Statement{}, fault.Refusedf("bundle holds a plain message signature, not a DSSE statement (cosign v2 --new-bundle-format signatures are not accepted: re-sign with cosign v3 or shipgate)")
	}
	if env.GetPayloadType() != inTotoPayloadType {
		return Statement{}, fault.Refusedf("bundle's DSSE payload type is %q, not %s", env.GetPayloadType(), inTotoPayloadType)
	}
	st, err := c.verifyEntity(b, subject)
	if err != nil {
		return Statement{}, err
	}
	if st.PredicateType != predicateType {
		return Statement{}, fault.Refusedf("statement has predicate type %s, want %s", st.PredicateType, predicateType)
	}
	if check != nil {
		if err := check(st); err != nil {
			return Statement{}, fault.AsRefused(err)
		}
	}
	return st, nil
}

// verifyEntity verifies a signed entity (a bundle, or a test entity) for subject under the policy
// and decodes the DSSE statement it signs.
func (c *checker) verifyEntity(e verify.SignedEntity, subject name.Digest) (Statement, error) {
	alg, hexDigest, _ := strings.Cut(subject.DigestStr(), ":")
	digest, err := hex.DecodeString(hexDigest)
	if err != nil {
		return Statement{}, fault.BadInputf("subject %s has a digest that is not hex", subject)
	}
	if err := c.verify(e, verify.WithArtifactDigest(alg, digest)); err != nil {
		return Statement{}, err
	}
	sc, err := e.SignatureContent()
	if err != nil {
		return Statement{}, fault.AsUnreadable(err)
	}
	env := sc.EnvelopeContent()
	if env == nil {
		return Statement{}, fault.Refusedf("signature is not a DSSE envelope")
	}
	// The payload is what the verified signature covers; decode it ourselves to keep the
	// predicate's bytes.
	payload, err := env.RawEnvelope().DecodeB64Payload()
	if err != nil {
		return Statement{}, fault.Unreadablef("signed payload is not base64: %w", err)
	}
	var sj statementJSON
	if err := json.Unmarshal(payload, &sj); err != nil {
		return Statement{}, fault.Unreadablef("signed payload is not an in-toto statement: %w", err)
	}
	st := Statement{PredicateType: sj.PredicateType, Predicate: sj.Predicate}
	for _, s := range sj.Subject {
		for a, h := range s.Digest {
			st.Subjects = append(st.Subjects, Subject{Name: s.Name, Digest: a + ":" + h})
		}
	}
	return st, nil
}

// verify verifies a signed entity under the policy, for the artifact given; failing is a refusal.
func (c *checker) verify(e verify.SignedEntity, artifact verify.ArtifactPolicyOption) error {
	if _, err := c.verifier.Verify(e, verify.NewPolicy(artifact, c.opts...)); err != nil {
		return fault.Refusedf("does not verify under policy (%s): %w", c.policy, err)
	}
	return nil
}
