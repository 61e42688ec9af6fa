package sign

// Cosign's older, tag-based format: signatures in an image manifest tagged sha256-<hex>.sig,
// attestations in one tagged sha256-<hex>.att, each signature a layer whose annotations carry
// what a sigstore bundle would (see the package documentation, "Cosign's older format").

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Names of cosign's older format.
const (
	// SimpleSigningMediaType is the media type of a layer of a .sig manifest: a "simple signing"
	// payload naming the signed digest.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// DSSEEnvelopeMediaType is the media type of a layer of an .att manifest: a DSSE envelope of
	// an in-toto statement.
	DSSEEnvelopeMediaType = "application/vnd.dsse.envelope.v1+json"
	// AnnotationLegacySignature holds a .sig layer's signature over the payload, base64.
	AnnotationLegacySignature = "dev.cosignproject.cosign/signature"
	// AnnotationLegacyCertificate holds the signer's Fulcio certificate (PEM), keyless only.
	AnnotationLegacyCertificate = "dev.sigstore.cosign/certificate"
	// AnnotationLegacyRekorBundle holds the Rekor entry and its signed entry timestamp (JSON),
	// when the signature was logged.
	AnnotationLegacyRekorBundle = "dev.sigstore.cosign/bundle"
	// AnnotationLegacyPredicateType names an .att layer's predicate type (a hint, never trusted).
	AnnotationLegacyPredicateType = "predicateType"

	legacySigSuffix = ".sig"
	legacyAttSuffix = ".att"
	// legacyBundleMediaType is the bundle version whose log entries need only a signed entry
	// timestamp (inclusion promise), which is what the older format keeps.
	legacyBundleMediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"
)

// legacyTagOf is the tag cosign's older format keeps signatures (".sig") or attestations (".att")
// of subject under.
func legacyTagOf(subject name.Digest, suffix string) name.Tag {
	return subject.Context().Tag(fallbackTag(subject).TagStr() + suffix)
}

func legacySuffix(predicateType string) string {
	if predicateType == SignaturePredicateType {
		return legacySigSuffix
	}
	return legacyAttSuffix
}

// legacyTag is what one sha256-<hex>.sig or .att tag holds, read once.
type legacyTag struct {
	once  sync.Once
	tag   string // the tag's full reference, repository:sha256-<hex>.sig
	found bool
	// layers are the manifest's layers of a cosign media type, at most maxCandidates.
	layers []*legacyLayer
	// skipped says how many cosign layers were left unexamined over the limit.
	skipped int
	// unreadable is set when the tag holds something that is not an image manifest.
	unreadable error
	err        error
}

// legacyLayer is one signature of the older format; its payload is fetched at most once.
type legacyLayer struct {
	index int
	desc  v1.Descriptor

	once    sync.Once
	payload []byte
	err     error
}

// read reads the tag's manifest. A tag that is not there is not found; a registry failure is err.
func (lt *legacyTag) read(cn conn, subject name.Digest, suffix string) {
	ref := legacyTagOf(subject, suffix)
	lt.tag = ref.String()
	desc, err := remote.Get(ref, cn.opts...)
	switch {
	case isNotFound(err):
		return
	case err != nil:
		lt.err = fmt.Errorf("read %s of %s: %w", lt.tag, subject, cn.fail("reading", ref, err))
		return
	}
	lt.found = true
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		lt.unreadable = fault.Unreadablef("it is not an image manifest: %w", err)
		return
	}
	for i, l := range m.Layers {
		switch {
		case l.MediaType != SimpleSigningMediaType && l.MediaType != DSSEEnvelopeMediaType:
			// not a signature of either kind
		case len(lt.layers) == maxCandidates:
			lt.skipped++
		default:
			lt.layers = append(lt.layers, &legacyLayer{index: i + 1, desc: l})
		}
	}
}

// fetch returns the layer's payload: embedded in its descriptor when that is the content it names,
// else its blob, read the first time. A registry failure is classified by the store's Registry;
// a layer over the size limit is Unreadable.
func (l *legacyLayer) fetch(cn conn, subject name.Digest) ([]byte, error) {
	l.once.Do(func() {
		if l.desc.Size > maxBundleSize {
			l.err = fault.Unreadablef("a %d-byte payload, over the %d-byte limit", l.desc.Size, maxBundleSize)
			return
		}
		if p, ok := embedded(l.desc); ok {
			l.payload = p
			return
		}
		blob := subject.Context().Digest(l.desc.Digest.String())
		l.payload, l.err = readBlob(cn, blob)
		if l.err != nil {
			l.err = fmt.Errorf("read layer %d of a tag of %s: %w", l.index, subject, l.err)
		}
	})
	return l.payload, l.err
}

// readBlob reads a blob of at most maxBundleSize bytes; its digest is checked as it is read.
func readBlob(cn conn, blob name.Digest) ([]byte, error) {
	l, err := remote.Layer(blob, cn.opts...)
	if err != nil {
		return nil, cn.fail("reading", blob, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, cn.fail("reading", blob, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	if err != nil {
		return nil, cn.fail("reading", blob, err)
	}
	if len(b) > maxBundleSize {
		return nil, fault.Unreadablef("blob %s is over the %d-byte limit", blob.DigestStr(), maxBundleSize)
	}
	return b, nil
}

// legacy returns the subject's tag of the older format for suffix, read once.
func (r *referrerSet) legacy(suffix string) *legacyTag {
	r.mu.Lock()
	lt := r.legacyTags[suffix]
	if lt == nil {
		lt = &legacyTag{}
		r.legacyTags[suffix] = lt
	}
	r.mu.Unlock()
	lt.once.Do(func() { lt.read(r.cn, r.subject, suffix) })
	return lt
}

// lookupLegacy looks, when no bundle was accepted, at the signatures cosign's older format keeps
// under the subject's sha256-<hex>.sig or .att tag, and records what it finds in v. Its error is
// a registry that could not be read.
func (r *referrerSet) lookupLegacy(c *checker, predicateType string, check func(Statement) error, v *verdict) error {
	lt := r.legacy(legacySuffix(predicateType))
	if lt.err != nil {
		return lt.err
	}
	if !lt.found {
		return nil
	}
	v.legacyTag, v.resign = lt.tag, resignCommand(r.subject, predicateType, c.policy)
	if lt.unreadable != nil {
		v.candidates++
		v.unreadable++
		v.legacyRejected = append(v.legacyRejected, lt.unreadable.Error())
		return nil
	}
	for _, l := range lt.layers {
		if pt := l.desc.Annotations[AnnotationLegacyPredicateType]; pt != "" && pt != predicateType {
			continue // routed by the unsigned annotation: skipping never accepts anything
		}
		if (l.desc.MediaType == SimpleSigningMediaType) != (predicateType == SignaturePredicateType) {
			continue
		}
		v.candidates++
		v.legacyExamined++
		p, err := l.fetch(r.cn, r.subject)
		if err != nil && fault.Of(err) != fault.Unreadable {
			return err
		}
		if err == nil {
			var st Statement
			if st, err = c.acceptLegacy(l.desc, p, r.subject, predicateType, check); err == nil {
				v.ok, v.statement, v.size, v.fromLegacy = true, st, len(p), true
				return nil
			}
		}
		if fault.Of(err) == fault.Unreadable {
			v.unreadable++
		}
		v.legacyRejected = append(v.legacyRejected, fmt.Sprintf("layer %d: %v", l.index, err))
	}
	if lt.skipped > 0 {
		v.legacyRejected = append(v.legacyRejected, fmt.Sprintf("%d further layers not examined", lt.skipped))
	}
	return nil
}

// acceptLegacy verifies one layer of the older format for subject under the checker's policy, as
// a bundle holding the same signature, key or certificate and log entry would be verified.
func (c *checker) acceptLegacy(d v1.Descriptor, p []byte, subject name.Digest, predicateType string, check func(Statement) error) (Statement, error) {
	b, err := c.legacyBundle(d, p)
	if err != nil {
		return Statement{}, err
	}
	if d.MediaType == DSSEEnvelopeMediaType {
		return c.acceptEntity(b, subject, predicateType, check)
	}
	if predicateType != SignaturePredicateType {
		return Statement{}, fault.Refusedf("a signature, not an attestation of predicate type %s", predicateType)
	}
	if err := c.verify(b, verify.WithArtifact(bytes.NewReader(p))); err != nil {
		return Statement{}, err
	}
	st, err := simpleSigningStatement(p, subject)
	if err != nil {
		return Statement{}, err
	}
	if check != nil {
		if err := check(st); err != nil {
			return Statement{}, fault.AsRefused(err)
		}
	}
	return st, nil
}

// simpleSigningStatement judges a verified simple-signing payload as cosign does, and more
// strictly: it must be a cosign signature of subject's digest, and name subject's repository as
// the image (cosign's own check skips the name; this one is containers/image's rule, so that a
// signature made for another repository does not pass for this one).
func simpleSigningStatement(p []byte, subject name.Digest) (Statement, error) {
	sc, err := parseSimpleSigning(p)
	if err != nil {
		return Statement{}, err
	}
	crit := sc.Critical
	if crit.Type != payload.CosignSignatureType {
		return Statement{}, fault.Refusedf("signed payload is of type %q, not a %q", crit.Type, payload.CosignSignatureType)
	}
	if crit.Image.DockerManifestDigest != subject.DigestStr() {
		return Statement{}, fault.Refusedf("signs %s, not %s: it is the signature of another image", crit.Image.DockerManifestDigest, subject.DigestStr())
	}
	ref, err := name.ParseReference(crit.Identity.DockerReference)
	if err != nil {
		return Statement{}, fault.Refusedf("signed payload names %q as the image, which is not an image reference", crit.Identity.DockerReference)
	}
	if ref.Context().Name() != subject.Context().Name() {
		return Statement{}, fault.Refusedf("signed for %s, not %s: sign the image in this repository", ref.Context().Name(), subject.Context().Name())
	}
	return Statement{PredicateType: SignaturePredicateType, Subjects: []Subject{{Name: crit.Identity.DockerReference, Digest: crit.Image.DockerManifestDigest}}}, nil
}

// parseSimpleSigning decodes a simple-signing payload; one that is not is Unreadable.
func parseSimpleSigning(p []byte) (payload.SimpleContainerImage, error) {
	var sc payload.SimpleContainerImage
	if err := json.Unmarshal(p, &sc); err != nil {
		return sc, fault.Unreadablef("signed payload is not a simple-signing document: %w", err)
	}
	return sc, nil
}

// legacyBundle puts one layer's signature, its verification material as the policy needs it and
// its log entry (when the policy needs one) into a sigstore bundle, for sigstore-go to verify.
func (c *checker) legacyBundle(d v1.Descriptor, p []byte) (*sgbundle.Bundle, error) {
	vm, err := c.legacyMaterial(d.Annotations)
	if err != nil {
		return nil, err
	}
	pb := &protobundle.Bundle{MediaType: legacyBundleMediaType, VerificationMaterial: vm}
	switch d.MediaType {
	case SimpleSigningMediaType:
		sig, err := decodeB64(d.Annotations[AnnotationLegacySignature])
		if err != nil || len(sig) == 0 {
			return nil, fault.Unreadablef("layer has no base64 signature in its %s annotation", AnnotationLegacySignature)
		}
		sum := sha256.Sum256(p)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}}
	case DSSEEnvelopeMediaType:
		env, err := parseLegacyEnvelope(p)
		if err != nil {
			return nil, err
		}
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	default:
		return nil, fault.Unreadablef("layer of media type %s is not a cosign signature", d.MediaType)
	}
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		return nil, fault.Unreadablef("signature, certificate and log entry do not make a sigstore bundle: %w", err)
	}
	return b, nil
}

// legacyMaterial is the verification material of a layer: the policy's key (key mode) or the
// layer's Fulcio certificate (keyless), and the layer's Rekor entry when the policy requires a
// transparency log.
func (c *checker) legacyMaterial(ann map[string]string) (*protobundle.VerificationMaterial, error) {
	vm := &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}}
	if c.policy.keyless() {
		cert, err := parseLegacyCertificate(ann[AnnotationLegacyCertificate])
		if err != nil {
			return nil, err
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
			Certificates: []*protocommon.X509Certificate{{RawBytes: cert}},
		}}
	}
	if c.policy.IgnoreTlog {
		return vm, nil // as cosign --insecure-ignore-tlog: a log entry, if any, is not looked at
	}
	raw := ann[AnnotationLegacyRekorBundle]
	if raw == "" {
		msg := fmt.Sprintf("signed without a transparency log entry (no %s annotation: cosign --tlog-upload=false), and the policy (%s) requires one", AnnotationLegacyRekorBundle, c.policy)
		if !c.policy.keyless() {
			msg += " (if this key's signatures stay out of Rekor on purpose, verify with --no-tlog-upload)"
		}
		return nil, fault.Refusedf("%s", msg)
	}
	tle, err := parseRekorBundle(raw)
	if err != nil {
		return nil, err
	}
	vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	return vm, nil
}

// parseLegacyCertificate decodes the PEM certificate of a keyless layer; none is a refusal (the
// signature was made with a key), a malformed one Unreadable.
func parseLegacyCertificate(s string) ([]byte, error) {
	if s == "" {
		return nil, fault.Refusedf("signed with a key (no Fulcio certificate in a %s annotation), and the policy is keyless", AnnotationLegacyCertificate)
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fault.Unreadablef("the %s annotation is not a PEM certificate", AnnotationLegacyCertificate)
	}
	return block.Bytes, nil
}

// parseLegacyEnvelope decodes a DSSE envelope as cosign stores it (JSON, payload and signatures
// in base64).
func parseLegacyEnvelope(p []byte) (*protodsse.Envelope, error) {
	var e dsse.Envelope
	if err := json.Unmarshal(p, &e); err != nil {
		return nil, fault.Unreadablef("layer is not a DSSE envelope: %w", err)
	}
	body, err := e.DecodeB64Payload()
	if err != nil {
		return nil, fault.Unreadablef("DSSE payload is not base64: %w", err)
	}
	if len(e.Signatures) == 0 {
		return nil, fault.Unreadablef("DSSE envelope has no signature")
	}
	env := &protodsse.Envelope{Payload: body, PayloadType: e.PayloadType}
	for _, s := range e.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil || len(sig) == 0 {
			return nil, fault.Unreadablef("DSSE signature is not base64")
		}
		env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
	}
	return env, nil
}

// rekorBundle is cosign's record of a Rekor v1 entry (the dev.sigstore.cosign/bundle annotation).
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// parseRekorBundle turns cosign's record of a Rekor entry into a log entry with its inclusion
// promise (the signed entry timestamp), as sigstore bundles v0.1 hold it.
func parseRekorBundle(raw string) (*protorekor.TransparencyLogEntry, error) {
	bad := func(what string, err error) error {
		return fault.Unreadablef("the %s annotation %s: %w", AnnotationLegacyRekorBundle, what, err)
	}
	var rb rekorBundle
	if err := json.Unmarshal([]byte(raw), &rb); err != nil {
		return nil, bad("is not cosign's Rekor bundle", err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, bad("has a body that is not base64", err)
	}
	var kv struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return nil, bad("has a body that is not a Rekor entry", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, bad("has a log ID that is not hex", err)
	}
	if kv.Kind == "" || kv.APIVersion == "" || len(logID) == 0 || len(rb.SignedEntryTimestamp) == 0 || rb.Payload.LogIndex < 0 {
		return nil, fault.Unreadablef("the %s annotation lacks the entry's kind, version, log ID, index or signed entry timestamp", AnnotationLegacyRekorBundle)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}, nil
}

// decodeB64 decodes standard base64, or URL-safe base64 as DSSE allows.
func decodeB64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(s)
	}
	return b, err
}

// resignCommand is the cosign command that signs subject again, in the bundle format, for a
// requirement of predicateType under policy p.
func resignCommand(subject name.Digest, predicateType string, p Policy) string {
	args := []string{"cosign", "attest"}
	if predicateType == SignaturePredicateType {
		args[1] = "sign"
	}
	if !p.keyless() {
		args = append(args, "--key", "cosign.key")
	}
	switch predicateType {
	case SignaturePredicateType:
	case SPDXPredicateType:
		args = append(args, "--type", "spdxjson", "--predicate", "sbom.spdx.json")
	case ProvenancePredicateType:
		args = append(args, "--type", "slsaprovenance1", "--predicate", "provenance.json")
	default:
		args = append(args, "--type", predicateType, "--predicate", "predicate.json")
	}
	return strings.Join(append(args, subject.String()), " ")
}
