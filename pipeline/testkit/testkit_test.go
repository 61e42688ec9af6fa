package testkit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// upstream is a tiny server that counts what reached it and echoes the path.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

func TestFaultProxyForwardsAndInjects(t *testing.T) {
	up, hits := upstream(t)
	p := NewFaultProxy(t, up.URL)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	resp, body, err := get(t, c, p.URL()+"/v2/app/manifests/1.0.0")
	if err != nil || resp.StatusCode != 200 || body != "GET /v2/app/manifests/1.0.0 0" {
		t.Fatalf("plain forward: %v %v %q", err, resp, body)
	}
	if resp.Header.Get("X-Seen-Host") != p.Host() {
		t.Fatalf("upstream saw host %q, want the proxy's %q", resp.Header.Get("X-Seen-Host"), p.Host())
	}

	// 503 on the 2nd and 3rd manifest GET only.
	r := p.Inject(Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Skip: 1, Times: 2, Status: 503})
	var codes []int
	for i := 0; i < 4; i++ {
		resp, _, err := get(t, c, p.URL()+"/v2/app/manifests/1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 503 503 200]" || r.Injected() != 2 {
		t.Fatalf("codes %v injected %d, want [200 503 503 200] and 2", codes, r.Injected())
	}
	// Non-matching path is not touched.
	if resp, _, _ := get(t, c, p.URL()+"/v2/app/blobs/x"); resp.StatusCode != 200 {
		t.Fatalf("non-matching request got %d", resp.StatusCode)
	}
	p.Clear()

	// 429 with Retry-After and extra headers.
	p.Inject(Fault{Status: 429, RetryAfter: "7", Header: http.Header{"X-Ratelimit-Remaining": {"0"}}, Times: 1})
	resp, _, _ = get(t, c, p.URL()+"/x")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 fault: %d %v", resp.StatusCode, resp.Header)
	}

	// Drop: the client sees a transport error and the upstream never sees the request.
	before := hits.Load()
	p.Inject(Fault{Drop: true, Times: 1})
	if _, _, err := get(t, c, p.URL()+"/dropped"); err == nil {
		t.Fatalf("dropped connection returned no error")
	}
	if hits.Load() != before {
		t.Fatalf("dropped request reached the upstream")
	}

	// DropResponse: the upstream sees the request, the client sees an error.
	p.Inject(Fault{DropResponse: true, Times: 1})
	if _, err := c.Post(p.URL()+"/written", "text/plain", strings.NewReader("abc")); err == nil {
		t.Fatalf("drop-response returned no error")
	}
	if hits.Load() != before+1 {
		t.Fatalf("drop-response request did not reach the upstream")
	}

	// Latency.
	p.Inject(Fault{Latency: 30 * time.Millisecond, Times: 1})
	start := time.Now()
	if resp, _, _ := get(t, c, p.URL()+"/slow"); resp.StatusCode != 200 || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("latency fault not applied")
	}

	var kinds []string
	for _, r := range p.Requests() {
		kinds = append(kinds, r.Fault)
	}
	want := []string{"", "", "status 503", "status 503", "", "", "status 429", "drop", "drop-response", "latency"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("request log %q, want %q", kinds, want)
	}
}

func TestCounterCountsRequestsAndBytes(t *testing.T) {
	up, _ := upstream(t)
	cnt := NewCounter(nil)
	c := &http.Client{Transport: cnt}
	for i := 0; i < 3; i++ {
		if _, _, err := get(t, c, up.URL+"/a"); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Post(up.URL+"/b", "application/octet-stream", bytes.NewReader(make([]byte, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	host := strings.TrimPrefix(up.URL, "http://")
	s := cnt.Host(host)
	if s.Requests != 4 || s.ByMethod["GET"] != 3 || s.ByMethod["POST"] != 1 {
		t.Fatalf("requests %+v", s)
	}
	if s.BytesSent != 1000 {
		t.Fatalf("sent %d bytes, want 1000", s.BytesSent)
	}
	wantRecv := int64(3*len("GET /a 0") + len("POST /b 1000"))
	if s.BytesReceived != wantRecv {
		t.Fatalf("received %d bytes, want %d", s.BytesReceived, wantRecv)
	}
	if tot := cnt.Total(); tot.Requests != 4 || tot.BytesSent != 1000 {
		t.Fatalf("total %+v", tot)
	}
	if !strings.Contains(cnt.String(), host+": 4 requests") {
		t.Fatalf("String() = %q", cnt.String())
	}
	cnt.Reset()
	if cnt.Total().Requests != 0 || cnt.Host(host).Requests != 0 {
		t.Fatalf("Reset did not clear counts")
	}
}

func TestSecretLeakDetection(t *testing.T) {
	const secret = "ghp_s3cr3tTOKENvalue42"
	for user := 1; user <= 6; user++ {
		header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("u", user)+":"+secret))
		if len(Leaks(secret, header)) == 0 {
			t.Errorf("basic auth header with a %d-char user not detected", user)
		}
	}
	for _, leaky := range []string{
		"pushing with token " + secret,
		"GET https://x/?access_token=" + secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
	} {
		if len(Leaks(secret, "clean line", leaky)) != 1 {
			t.Errorf("leak not detected in %q", leaky)
		}
	}
	if l := Leaks(secret, "token ghp_***", "Authorization: Basic ***"); len(l) != 0 {
		t.Errorf("false leak: %v", l)
	}
	var logs Logs
	fmt.Fprintf(&logs, "line one\nline two\n")
	if len(logs.Lines()) != 2 {
		t.Errorf("Lines() = %q", logs.Lines())
	}

	// AssertNoSecret must fail on a leak: run it against a recording TB.
	rec := &recordingTB{TB: t}
	AssertNoSecret(rec, secret, &logs, errors.New("auth failed for "+secret))
	if !rec.failed {
		t.Fatalf("AssertNoSecret passed over a leaking error")
	}
	rec = &recordingTB{TB: t}
	AssertNoSecret(rec, secret, &logs, errors.New("auth failed"), "fine", []string{"a", "b"}, nil)
	if rec.failed {
		t.Fatalf("AssertNoSecret failed on clean input")
	}
}

type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Errorf(string, ...any) { r.failed = true }
func (r *recordingTB) Fatalf(string, ...any) { r.failed = true }
func (r *recordingTB) Helper()               {}

func TestRegistries(t *testing.T) {
	for _, lane := range []struct {
		name      string
		referrers bool
	}{{"referrers", true}, {"tag-fallback", false}} {
		t.Run(lane.name, func(t *testing.T) {
			host := Registry(t, RegistryOptions{Referrers: lane.referrers})
			ref, _ := name.ParseReference(host + "/app:seed")
			img, _ := random.Image(64, 1)
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + host + "/v2/app/referrers/sha256:" + strings.Repeat("0", 64))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode == 200; got != lane.referrers {
				t.Fatalf("referrers endpoint answered %d with referrers=%v", resp.StatusCode, lane.referrers)
			}
		})
	}
	t.Run("auth", func(t *testing.T) {
		host := Registry(t, RegistryOptions{Username: "bot", Password: "pw-123456"})
		resp, _ := http.Get("http://" + host + "/v2/")
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("anonymous request got %d, want 401", resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", "http://"+host+"/v2/", nil)
		req.SetBasicAuth("bot", "pw-123456")
		resp, _ = http.DefaultClient.Do(req)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("authenticated request got %d", resp.StatusCode)
		}
	})
	t.Run("process", func(t *testing.T) {
		host := RegistryProcess(t, RegistryOptions{Username: "bot", Password: "pw-123456"})
		resp, err := http.Get("http://" + host + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("registry process without credentials answered %d, want 401", resp.StatusCode)
		}
	})
}
