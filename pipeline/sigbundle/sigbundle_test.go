package sigbundle

import (
	"encoding/base64"
	"strings"
	"testing"
)

func bundle(payload string) []byte {
	return []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"` + base64.StdEncoding.EncodeToString([]byte(payload)) + `","payloadType":"application/vnd.in-toto+json"}}`)
}

func TestRead(t *testing.T) {
	hexd := strings.Repeat("ab", 32)
	c, err := Read(bundle(`{"subject":[{"name":"x","digest":{"sha256":"` + strings.ToUpper(hexd) + `"}}],"predicateType":"https://slsa.dev/provenance/v1"}`))
	if err != nil || len(c.Subjects) != 1 || c.Subjects[0] != "sha256:"+hexd || c.PredicateType != "https://slsa.dev/provenance/v1" || !strings.HasPrefix(c.MediaType, MediaTypePrefix) {
		t.Fatalf("%+v %v", c, err)
	}
	msg := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}}}`
	if c, err := Read([]byte(msg)); err != nil || c.Subjects[0] != "sha256:"+strings.Repeat("00", 32) || c.PredicateType != "" {
		t.Fatalf("message signature: %+v %v", c, err)
	}
	for name, raw := range map[string]string{
		"not JSON":        "{",
		"no content":      `{"mediaType":"x"}`,
		"short digest":    `{"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"}}}`,
		"not a statement": string(bundle("nope")),
		"no sha256":       string(bundle(`{"subject":[{"digest":{"sha512":"aa"}}]}`)),
	} {
		if _, err := Read([]byte(raw)); err == nil {
			t.Errorf("%s: read", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(bundle(`{"subject":[{"digest":{"sha256":"ab"}}]}`))
	f.Add([]byte(`{"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Read(raw)
		if err == nil && len(c.Subjects) == 0 {
			t.Fatal("a bundle with no subject was read")
		}
	})
}
