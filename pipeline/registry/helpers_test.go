package registry

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

var (
	created = time.Date(2026, 11, 3, 10, 30, 0, 0, time.FixedZone("CET", 3600))
	amd64   = version.Platform{OS: "linux", Architecture: "amd64"}
	arm64   = version.Platform{OS: "linux", Architecture: "arm64"}
	both    = []version.Platform{amd64, arm64}
)

// lane is one kind of registry every behaviour is checked against.
type lane struct {
	name  string
	start func(testing.TB, testkit.RegistryOptions) string
}

func lanes() []lane {
	return []lane{
		{"referrers", func(t testing.TB, o testkit.RegistryOptions) string {
			o.Referrers = true
			return testkit.Registry(t, o)
		}},
		{"tag-fallback", testkit.Registry},
		{"process", testkit.RegistryProcess},
	}
}

// env is a registry (behind a fault proxy) and a client that talks to it through a counter.
type env struct {
	t       testing.TB
	host    string // the proxy's host:port: what the client talks to
	repo    string
	proxy   *testkit.FaultProxy
	counter *testkit.Counter
	logs    *testkit.Logs
	clock   *clock.Fake
	c       *Client
	opts    []Option
	lane    string // the lane's name, when the env was started by laneEnv
}

// fresh is a new client with the env's options: a new phase, with its own registry session.
func (e *env) fresh() *Client { return New(e.opts...) }

func newEnv(t testing.TB, upstream string, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, logs: &testkit.Logs{}, counter: testkit.NewCounter(nil), clock: clock.NewFake(created)}
	e.proxy = testkit.NewFaultProxy(t, "http://"+upstream)
	e.host = e.proxy.Host()
	e.repo = e.host + "/acme/app"
	base := []Option{
		WithInsecureHosts(e.host),
		WithTransport(e.counter),
		WithRetries(3),
		WithBackoff(2 * time.Millisecond),
		WithClock(e.clock),
		WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}
	e.opts = append(base, opts...)
	e.c = New(e.opts...)
	return e
}

// laneEnv starts a lane's registry and an env in front of it.
func laneEnv(t testing.TB, l lane, opts ...Option) *env {
	t.Helper()
	e := newEnv(t, l.start(t, testkit.RegistryOptions{}), opts...)
	e.lane = l.name
	return e
}

// localEnv starts an in-process registry (the tag-fallback lane) and an env in front of it.
func localEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	return laneEnv(t, lanes()[1], opts...)
}

// eachLane runs body as a subtest named after each lane of ls, with a fresh env (laneEnv) of that lane.
func eachLane(t *testing.T, ls []lane, body func(t *testing.T, e *env)) {
	t.Helper()
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) { body(t, laneEnv(t, l)) })
	}
}

// eachAuthLane runs body as a subtest for each fault lane, against a fresh registry that wants
// the bot's credentials (upstream, for envs with other credentials) and an env logged in as the bot.
func eachAuthLane(t *testing.T, body func(t *testing.T, upstream string, e *env)) {
	t.Helper()
	for _, l := range faultLanes() {
		t.Run(l.name, func(t *testing.T) {
			upstream := l.start(t, testkit.RegistryOptions{Username: botUser, Password: botToken})
			e := newEnv(t, upstream, WithAuth(botUser, botToken))
			e.lane = l.name
			body(t, upstream, e)
		})
	}
}

// writes counts requests that change something (PUT, POST, PATCH, DELETE) seen by the proxy.
func (e *env) writes() []testkit.Request {
	var out []testkit.Request
	for _, r := range e.proxy.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

// count counts proxy requests by method and path pattern since the last mark.
func (e *env) count(method, pattern string, since int) int {
	re := regexp.MustCompile(pattern)
	n := 0
	for _, r := range e.proxy.Requests()[since:] {
		if (method == "" || r.Method == method) && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

func (e *env) mark() int { return len(e.proxy.Requests()) }

// raw talks to the registry directly with go-containerregistry, as another tool would.
func (e *env) ref(s string) name.Reference {
	e.t.Helper()
	r, err := name.ParseReference(e.host+"/"+s, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// resolve returns what a tag resolves to, or the zero hash when it does not exist.
func (e *env) resolve(repoPath, tag string) v1.Hash {
	e.t.Helper()
	d, err := remote.Head(e.ref(repoPath + ":" + tag))
	if err != nil {
		if strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
			return v1.Hash{}
		}
		e.t.Fatalf("HEAD %s:%s: %v", repoPath, tag, err)
	}
	return d.Digest
}

func (e *env) manifestBytes(ref string) []byte {
	e.t.Helper()
	d, err := remote.Get(e.ref(ref))
	if err != nil {
		e.t.Fatalf("GET %s: %v", ref, err)
	}
	return d.Manifest
}

// image builds an OCI image for platform p (its config says configured) from layers.
func image(t testing.TB, configured version.Platform, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = configured.OS, configured.Architecture, configured.Variant
	cf.Config.Entrypoint = []string{"/app"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func layer(t testing.TB, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// release is a two-platform build sharing two base layers.
type release struct {
	base     []v1.Layer
	amd, arm v1.Image
}

func newRelease(t testing.TB, size int64) release {
	t.Helper()
	base := []v1.Layer{layer(t, size), layer(t, size)}
	return release{
		base: base,
		amd:  image(t, amd64, append(append([]v1.Layer{}, base...), layer(t, size))...),
		arm:  image(t, arm64, append(append([]v1.Layer{}, base...), layer(t, size))...),
	}
}

func (r release) sources() []Source {
	return []Source{{Platform: amd64, Image: r.amd}, {Platform: arm64, Image: r.arm}}
}

func specFor(repo, v string, sources []Source) IndexSpec {
	return IndexSpec{
		Repository: repo,
		Version:    version.MustParse(v),
		Sources:    sources,
		SourceURL:  "https://github.com/acme/app",
		Revision:   "0123456789abcdef0123456789abcdef01234567",
		Created:    created,
	}
}

// publish publishes a fresh two-platform release of version v and returns it.
func (e *env) publish(v string) Published {
	e.t.Helper()
	r := newRelease(e.t, 512)
	p, err := e.c.Publish(context.Background(), specFor(e.repo, v, r.sources()))
	if err != nil {
		e.t.Fatalf("publish %s: %v", v, err)
	}
	return p
}

// promote runs the registry part of promote for v.
func (e *env) promote(v string, p Published, o TagOptions) TagPlan {
	e.t.Helper()
	ctx := context.Background()
	chk, err := e.c.CheckIndex(ctx, e.repo, version.MustParse(v), both)
	if err != nil || !chk.OK() {
		e.t.Fatalf("check %s: %v %v", v, err, chk.Err())
	}
	plan := e.planTags(v, p, o)
	e.applyTags(plan)
	return plan
}

// applyTags applies plan; an error fails the test.
func (e *env) applyTags(plan TagPlan) {
	e.t.Helper()
	if err := e.c.ApplyTags(context.Background(), plan); err != nil {
		e.t.Fatalf("apply tags %s: %v", plan.Version, err)
	}
}

// planTags plans the tags of v, published as p, with o; an error fails the test.
func (e *env) planTags(v string, p Published, o TagOptions) TagPlan {
	e.t.Helper()
	plan, err := e.c.PlanTags(context.Background(), e.repo, version.MustParse(v), p.Index, o)
	if err != nil {
		e.t.Fatalf("plan tags %s: %v", v, err)
	}
	return plan
}

// publishPromoted publishes a fresh release of v and promotes it with o.
func (e *env) publishPromoted(v string, o TagOptions) Published {
	e.t.Helper()
	p := e.publish(v)
	e.promote(v, p, o)
	return p
}

// planAfter publishes and promotes prev, then publishes next and plans its tags without applying
// them: a promote of next half done. It returns both releases and the plan.
func (e *env) planAfter(prev, next string, o TagOptions) (Published, Published, TagPlan) {
	e.t.Helper()
	p1 := e.publishPromoted(prev, o)
	p2 := e.publish(next)
	return p1, p2, e.planTags(next, p2, o)
}

// retag points dst (repo:tag) at the manifest src (repo@digest or repo:tag) as another tool would.
func (e *env) retag(src, dst string) {
	e.t.Helper()
	d, err := remote.Get(e.ref(src))
	if err != nil {
		e.t.Fatal(err)
	}
	tag, err := name.NewTag(e.host+"/"+dst, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.Tag(tag, d); err != nil {
		e.t.Fatal(err)
	}
}

func randomIndex() (v1.ImageIndex, error) { return random.Index(256, 1, 2) }
