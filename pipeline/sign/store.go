package sign

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shipgate/shipgate/pipeline/provenance"
)

// Predicate types this package writes and looks for.
const (
	// SignaturePredicateType is the predicate type of the statement cosign v3 signs for `cosign
	// sign`: a plain signature over the digest.
	SignaturePredicateType = "https://sigstore.dev/cosign/sign/v1"
	// SPDXPredicateType is the predicate type of an SPDX SBOM attestation (cosign --type spdx or
	// spdxjson).
	SPDXPredicateType = "https://spdx.dev/Document"
	// ProvenancePredicateType is SLSA provenance v1 (cosign --type slsaprovenance1).
	ProvenancePredicateType = provenance.PredicateType
)

// OCI names of the stored layout (see the package documentation).
const (
	// BundleMediaType is the media type of a sigstore bundle v0.3: the referrer manifest's
	// artifactType and its layer's media type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationPredicateType is the referrer annotation naming the statement's predicate type
	// (a hint for finding bundles; never trusted).
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationContent is the referrer annotation naming the bundle's content, "dsse-envelope".
	AnnotationContent = "dev.sigstore.bundle.content"
	// AnnotationCreated is the referrer annotation with the time the referrer was written.
	AnnotationCreated = "org.opencontainers.image.created"

	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
	emptyConfigMediaType  = "application/vnd.oci.empty.v1+json"
)

// maxBundleSize bounds a bundle read from a registry; an SPDX document of a large image fits.
const maxBundleSize = 64 << 20

// maxCandidates bounds how many bundles one lookup opens, newest first.
const maxCandidates = 50

// Store signs, attests and verifies digests in OCI registries. Its methods may be called
// concurrently; writes for one subject are serialized.
type Store struct {
	opts []remote.Option

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewStore returns a Store that reaches registries with the given go-containerregistry options
// (remote.WithAuth, remote.WithAuthFromKeychain, remote.WithTransport, ...).
func NewStore(remoteOpts ...remote.Option) *Store {
	return &Store{opts: remoteOpts, locks: map[string]*sync.Mutex{}}
}

func (s *Store) remote(ctx context.Context) []remote.Option {
	return append(append([]remote.Option(nil), s.opts...), remote.WithContext(ctx))
}

// clients returns remote options that share one puller and one pusher, so that the registry's
// auth handshake (ping, token) happens once for a whole operation rather than once per request.
func (s *Store) clients(ctx context.Context) ([]remote.Option, error) {
	opts := s.remote(ctx)
	pull, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	push, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	return append(opts, remote.Reuse(pull), remote.Reuse(push)), nil
}

// lock serializes writes of referrers for one subject: without a referrers API they all change the
// same sha256-<hex> index tag.
func (s *Store) lock(subject name.Digest) func() {
	key := subject.Context().Name() + "@" + subject.DigestStr()
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[key] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Subject is one artifact a statement is about.
type Subject struct {
	// Name is the artifact's name (for images, the repository).
	Name string
	// Digest is "sha256:<hex>".
	Digest string
}

// Statement is a verified in-toto statement.
type Statement struct {
	// PredicateType is the statement's predicate type URI.
	PredicateType string
	// Subjects are the artifacts the statement is about.
	Subjects []Subject
	// Predicate is the predicate JSON exactly as signed.
	Predicate json.RawMessage
}

// Covers says whether the statement names digest ("sha256:<hex>") as a subject.
func (st Statement) Covers(digest string) bool {
	for _, s := range st.Subjects {
		if s.Digest == digest {
			return true
		}
	}
	return false
}

// Sign signs subject (an image manifest or index digest) the way `cosign sign` does and stores
// the bundle as a referrer of subject. It signs again when called again; observe with Signed
// first to skip a digest that is already signed.
func (s *Store) Sign(ctx context.Context, subject name.Digest, sg Signer) error {
	stmt, err := statement(SignaturePredicateType, []byte("{}"), false, subject)
	if err != nil {
		return err
	}
	return s.write(ctx, subject, SignaturePredicateType, stmt, sg)
}

// Attest signs an in-toto statement with predicateType and predicate (a JSON object, stored
// byte for byte) about subject, and about each of also, and stores it as a referrer of subject
// only. For provenance of a multi-platform image, subject is the index and also the platform
// manifests. Observe with Attested first to skip what is already attested.
func (s *Store) Attest(ctx context.Context, subject name.Digest, predicateType string, predicate []byte, sg Signer, also ...name.Digest) error {
	if predicateType == "" {
		return errors.New("attest: predicate type is empty: give the predicate's type URI, for example " + SPDXPredicateType)
	}
	stmt, err := statement(predicateType, predicate, true, subject, also...)
	if err != nil {
		return err
	}
	return s.write(ctx, subject, predicateType, stmt, sg)
}

type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       []subjectJSON   `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// statement encodes an in-toto v1 statement; the predicate keeps its bytes (compacted), and the
// result is checked with the in-toto Go types. named gives each subject its repository as name,
// as `cosign attest` does (`cosign sign` names none).
func statement(predicateType string, predicate []byte, named bool, subject name.Digest, also ...name.Digest) ([]byte, error) {
	var pred bytes.Buffer
	if err := json.Compact(&pred, predicate); err != nil || !bytes.HasPrefix(pred.Bytes(), []byte("{")) {
		return nil, fmt.Errorf("predicate of type %s is not a JSON object: give the document itself (for an SBOM, syft's SPDX JSON output)", predicateType)
	}
	st := statementJSON{Type: intoto.StatementTypeUri, PredicateType: predicateType, Predicate: pred.Bytes()}
	seen := map[string]bool{}
	for _, d := range append([]name.Digest{subject}, also...) {
		alg, hexDigest, ok := strings.Cut(d.DigestStr(), ":")
		if !ok || alg != "sha256" {
			return nil, fmt.Errorf("subject %s: only sha256 digests can be signed", d)
		}
		if seen[d.DigestStr()] {
			continue
		}
		seen[d.DigestStr()] = true
		sj := subjectJSON{Digest: map[string]string{alg: hexDigest}}
		if named {
			sj.Name = d.Context().Name()
		}
		st.Subject = append(st.Subject, sj)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	check := &intoto.Statement{}
	if err := protojson.Unmarshal(raw, check); err != nil {
		return nil, fmt.Errorf("statement is not an in-toto statement: %w", err)
	}
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("statement is not a valid in-toto statement: %w", err)
	}
	return raw, nil
}

// write signs statement and stores the bundle as a referrer of subject.
func (s *Store) write(ctx context.Context, subject name.Digest, predicateType string, stmt []byte, sg Signer) error {
	if sg == nil {
		return errors.New("no signer: make one with NewKeySigner or NewKeylessSigner")
	}
	unlock := s.lock(subject)
	defer unlock()
	opts, err := s.clients(ctx)
	if err != nil {
		return err
	}
	desc, err := remote.Head(subject, opts...)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("cannot sign %s: no such manifest in the registry: push the image before signing it", subject)
		}
		return fmt.Errorf("cannot sign %s: look up the subject: %w", subject, err)
	}
	bundle, err := sg.signStatement(ctx, stmt)
	if err != nil {
		return err
	}
	return s.putReferrer(opts, subject, *desc, bundle, predicateType)
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func (s *Store) putReferrer(opts []remote.Option, subject name.Digest, subjectDesc v1.Descriptor, bundle []byte, predicateType string) error {
	repo := subject.Context()
	cfg := static.NewLayer([]byte("{}"), emptyConfigMediaType)
	layer := static.NewLayer(bundle, BundleMediaType)
	for _, l := range []struct {
		what  string
		layer v1.Layer
	}{{"empty config", cfg}, {"bundle", layer}} {
		if err := remote.WriteLayer(repo, l.layer, opts...); err != nil {
			return fmt.Errorf("store %s of %s for %s: %w", l.what, predicateType, subject, err)
		}
	}
	cfgDigest, _ := cfg.Digest()
	layerDigest, _ := layer.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        v1.Descriptor{MediaType: emptyConfigMediaType, Digest: cfgDigest, Size: 2},
		Layers:        []v1.Descriptor{{MediaType: BundleMediaType, Digest: layerDigest, Size: int64(len(bundle))}},
		Subject:       &v1.Descriptor{MediaType: subjectDesc.MediaType, Digest: subjectDesc.Digest, Size: subjectDesc.Size},
		Annotations: map[string]string{
			AnnotationCreated:       time.Now().UTC().Format(time.RFC3339),
			AnnotationContent:       "dsse-envelope",
			AnnotationPredicateType: predicateType,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode referrer manifest: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	ref := repo.Digest(h.String())
	// Put updates the sha256-<hex> index tag when the registry has no referrers API. That update
	// is read-modify-write; if a writer elsewhere overwrote it between our read and write, our
	// referrer is missing from the listing, and putting again adds it back.
	for attempt := 1; ; attempt++ {
		if err := remote.Put(ref, rawManifest{raw, types.OCIManifestSchema1}, opts...); err != nil {
			return fmt.Errorf("store %s referrer %s of %s: %w", predicateType, h, subject, err)
		}
		listed, err := listed(opts, subject, h)
		if err != nil {
			return fmt.Errorf("read back referrers of %s after storing %s: %w", subject, h, err)
		}
		if listed {
			return nil
		}
		if attempt == 3 {
			return fmt.Errorf("stored %s referrer %s of %s, but the registry does not list it after %d attempts: another writer keeps replacing the %s tag; run one publish at a time", predicateType, h, subject, attempt, strings.Replace(subject.DigestStr(), ":", "-", 1))
		}
	}
}

func listed(opts []remote.Option, subject name.Digest, h v1.Hash) (bool, error) {
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return false, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return false, err
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			return true, nil
		}
	}
	return false, nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// Signed says whether subject carries a signature (as `cosign sign` makes) that verifies under p.
// It only reads. An error means the registry could not be read or the policy is incomplete; a
// missing or rejected signature is false with no error.
func (s *Store) Signed(ctx context.Context, subject name.Digest, p Policy) (bool, error) {
	return s.Attested(ctx, subject, SignaturePredicateType, p, nil)
}

// Attested says whether subject carries an attestation of predicateType that verifies under p
// and passes check (nil: no further check). It only reads; see Signed for errors.
func (s *Store) Attested(ctx context.Context, subject name.Digest, predicateType string, p Policy, check func(Statement) error) (bool, error) {
	c, err := newChecker(p)
	if err != nil {
		return false, err
	}
	opts, err := s.clients(ctx)
	if err != nil {
		return false, err
	}
	v, err := lookup(opts, c, subject, predicateType, check)
	return v.ok, err
}

// verdict is what a lookup found for one subject and predicate type.
type verdict struct {
	ok        bool
	statement Statement
	// size is the accepted bundle's size in bytes.
	size int
	// candidates counts bundles of the predicate type (or of unknown type) examined.
	candidates int
	// rejected says why each examined bundle was not accepted.
	rejected []string
}

func (v verdict) reason(subject name.Digest, predicateType string) string {
	if v.ok {
		return ""
	}
	if v.candidates == 0 {
		return fmt.Sprintf("no sigstore bundle with predicate type %s refers to %s", predicateType, subject.DigestStr())
	}
	return fmt.Sprintf("%d bundle(s) found, none accepted: %s", v.candidates, strings.Join(v.rejected, "; "))
}

// lookup lists the referrers of subject and verifies candidate bundles, newest first, until one
// is accepted.
func lookup(opts []remote.Option, c *checker, subject name.Digest, predicateType string, check func(Statement) error) (verdict, error) {
	var v verdict
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return v, fmt.Errorf("list referrers of %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v, fmt.Errorf("list referrers of %s: %w", subject, err)
	}
	var cands []v1.Descriptor
	for _, d := range im.Manifests {
		pt, hasPT := d.Annotations[AnnotationPredicateType]
		isBundle := strings.HasPrefix(d.ArtifactType, bundleMediaTypePrefix)
		unknown := !isBundle && !hasPT && (d.ArtifactType == "" || d.ArtifactType == emptyConfigMediaType)
		switch {
		case hasPT && pt != predicateType:
			// The annotation is a hint only: skipping never accepts anything.
		case isBundle || hasPT || unknown:
			cands = append(cands, d)
		}
	}
	// Newest first, by the created annotation (RFC 3339 UTC sorts as text).
	sort.SliceStable(cands, func(i, j int) bool {
		return cands[i].Annotations[AnnotationCreated] > cands[j].Annotations[AnnotationCreated]
	})
	if len(cands) > maxCandidates {
		v.rejected = append(v.rejected, fmt.Sprintf("%d older referrers not examined", len(cands)-maxCandidates))
		cands = cands[:maxCandidates]
	}
	for _, d := range cands {
		b, isBundle, err := fetchBundle(opts, subject, d)
		if err != nil {
			return v, err
		}
		if !isBundle {
			continue
		}
		v.candidates++
		st, err := c.accept(b, subject, predicateType, check)
		if err != nil {
			v.rejected = append(v.rejected, fmt.Sprintf("referrer %s: %v", short(d.Digest), err))
			continue
		}
		v.ok, v.statement, v.size = true, st, len(b)
		return v, nil
	}
	return v, nil
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

// fetchBundle reads the bundle a referrer manifest holds; isBundle is false when the referrer is
// not a sigstore bundle.
func fetchBundle(opts []remote.Option, subject name.Digest, d v1.Descriptor) (_ []byte, isBundle bool, _ error) {
	ref := subject.Context().Digest(d.Digest.String())
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		if isNotFound(err) {
			// Listed but gone (deleted, or a stale fallback index): nothing to verify.
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read referrer %s of %s: %w", d.Digest, subject, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, false, nil
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleMediaTypePrefix) {
		return nil, false, nil
	}
	if m.Layers[0].Size > maxBundleSize {
		return nil, true, fmt.Errorf("referrer %s of %s holds a %d-byte bundle, over the %d-byte limit", d.Digest, subject, m.Layers[0].Size, maxBundleSize)
	}
	l, err := remote.Layer(subject.Context().Digest(m.Layers[0].Digest.String()), opts...)
	if err != nil {
		return nil, true, fmt.Errorf("read bundle of referrer %s of %s: %w", d.Digest, subject, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, true, fmt.Errorf("read bundle of referrer %s of %s: %w", d.Digest, subject, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	if err != nil {
		return nil, true, fmt.Errorf("read bundle of referrer %s of %s: %w", d.Digest, subject, err)
	}
	return b, true, nil
}

// accept verifies one bundle for subject under the checker's policy, and returns its statement.
func (c *checker) accept(raw []byte, subject name.Digest, predicateType string, check func(Statement) error) (Statement, error) {
	b := &sgbundle.Bundle{}
	if err := b.UnmarshalJSON(raw); err != nil {
		return Statement{}, fmt.Errorf("not a valid sigstore bundle: %w", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return Statement{}, errors.New("bundle holds a plain message signature, not a DSSE statement (cosign v2 --new-bundle-format signatures are not accepted: re-sign with cosign v3 or shipgate)")
	}
	if env.GetPayloadType() != inTotoPayloadType {
		return Statement{}, fmt.Errorf("bundle's DSSE payload type is %q, not %s", env.GetPayloadType(), inTotoPayloadType)
	}
	st, err := c.verifyEntity(b, subject)
	if err != nil {
		return Statement{}, err
	}
	if st.PredicateType != predicateType {
		return Statement{}, fmt.Errorf("statement has predicate type %s, want %s", st.PredicateType, predicateType)
	}
	if check != nil {
		if err := check(st); err != nil {
			return Statement{}, err
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
		return Statement{}, fmt.Errorf("subject %s has a digest that is not hex", subject)
	}
	if _, err := c.verifier.Verify(e, verify.NewPolicy(verify.WithArtifactDigest(alg, digest), c.opts...)); err != nil {
		return Statement{}, fmt.Errorf("does not verify under policy (%s): %w", c.policy, err)
	}
	sc, err := e.SignatureContent()
	if err != nil {
		return Statement{}, err
	}
	env := sc.EnvelopeContent()
	if env == nil {
		return Statement{}, errors.New("signature is not a DSSE envelope")
	}
	// The payload is what the verified signature covers; decode it ourselves to keep the
	// predicate's bytes.
	payload, err := env.RawEnvelope().DecodeB64Payload()
	if err != nil {
		return Statement{}, fmt.Errorf("signed payload is not base64: %w", err)
	}
	var sj statementJSON
	if err := json.Unmarshal(payload, &sj); err != nil {
		return Statement{}, fmt.Errorf("signed payload is not an in-toto statement: %w", err)
	}
	st := Statement{PredicateType: sj.PredicateType, Predicate: sj.Predicate}
	for _, s := range sj.Subject {
		for a, h := range s.Digest {
			st.Subjects = append(st.Subjects, Subject{Name: s.Name, Digest: a + ":" + h})
		}
	}
	return st, nil
}
