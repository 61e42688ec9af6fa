// Package sigbundle reads, without verifying anything, what a sigstore bundle says it is about:
// the digests it attests and its predicate type. GitHub's attestation store files a bundle under
// those digests; shipgate's GitHub client and the GitHub API server both need to read them the
// same way. Verification is package sign's.
package sigbundle

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// MediaTypePrefix starts the media type of every sigstore bundle version.
const MediaTypePrefix = "application/vnd.dev.sigstore.bundle"

// Claims are what a bundle says it is about.
type Claims struct {
	// MediaType is the bundle's own media type.
	MediaType string
	// Subjects are the attested digests, "sha256:<hex>": the subjects of the in-toto statement in
	// a DSSE envelope, or the digest a message signature signs.
	Subjects []string
	// PredicateType is the in-toto statement's predicate type; empty for a message signature.
	PredicateType string
}

// Read reads the claims of a bundle. A text that is not a bundle, or one that names no sha256
// subject, is an error saying which.
func Read(raw []byte) (Claims, error) {
	var b struct {
		MediaType    string `json:"mediaType"`
		DSSEEnvelope *struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
		MessageSignature *struct {
			MessageDigest struct {
				Algorithm string `json:"algorithm"`
				Digest    string `json:"digest"`
			} `json:"messageDigest"`
		} `json:"messageSignature"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return Claims{}, errors.New("not a sigstore bundle (not JSON)")
	}
	c := Claims{MediaType: b.MediaType}
	switch {
	case b.DSSEEnvelope != nil:
		return statement(c, b.DSSEEnvelope.Payload)
	case b.MessageSignature != nil:
		md := b.MessageSignature.MessageDigest
		d, err := base64.StdEncoding.DecodeString(md.Digest)
		if err != nil || md.Algorithm != "SHA2_256" || len(d) != 32 {
			return Claims{}, errors.New("the message signature's digest is not a SHA2_256 digest")
		}
		c.Subjects = []string{"sha256:" + hex.EncodeToString(d)}
		return c, nil
	}
	return Claims{}, errors.New("the bundle has neither a DSSE envelope nor a message signature")
}

// statement reads the subjects and predicate type of the in-toto statement in a DSSE payload.
func statement(c Claims, payload string) (Claims, error) {
	raw, err := base64.StdEncoding.DecodeString(payload)
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err != nil || json.Unmarshal(raw, &st) != nil {
		return Claims{}, errors.New("the DSSE payload is not an in-toto statement")
	}
	for _, s := range st.Subject {
		if d := s.Digest["sha256"]; d != "" {
			c.Subjects = append(c.Subjects, "sha256:"+strings.ToLower(d))
		}
	}
	if len(c.Subjects) == 0 {
		return Claims{}, errors.New("the in-toto statement has no sha256 subject")
	}
	c.PredicateType = st.PredicateType
	return c, nil
}
