package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/testkit"
)

func TestImageReadsPlatformAndLabels(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	repo := host + "/acme/app"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "arm64"
	cfg.Config.Labels = map[string]string{LabelRevision: "abc123"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(repo + ":1.2.3-arm64")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	c := New(WithInsecureHosts(host))
	got, err := c.Image(context.Background(), repo, "1.2.3-arm64")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Found || got.Digest != want || got.Platform.String() != "linux/arm64" || got.Labels[LabelRevision] != "abc123" {
		t.Fatalf("Image = %+v", got)
	}
	missing, err := c.Image(context.Background(), repo, "1.2.3-amd64")
	if err != nil || missing.Found {
		t.Fatalf("missing tag: %+v %v", missing, err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	iref, _ := name.ParseReference(repo + ":1.2.3")
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Image(context.Background(), repo, "1.2.3"); err == nil || !strings.Contains(err.Error(), "not a platform image manifest") {
		t.Fatalf("index tag: %v", err)
	}
}
