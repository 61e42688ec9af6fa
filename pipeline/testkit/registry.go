package testkit

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/crypto/bcrypt"
)

// RegistryOptions shape a test registry.
type RegistryOptions struct {
	// Referrers turns on the OCI referrers API (GET /v2/<name>/referrers/<digest>). Off is like
	// GHCR: signatures fall back to sha256-<hex> tags.
	Referrers bool
	// Username and Password, when set, require HTTP Basic auth on every /v2/ request.
	Username, Password string
}

// Registry starts go-containerregistry's in-process registry on 127.0.0.1 and returns its
// host:port; it stops when the test ends.
func Registry(t testing.TB, o RegistryOptions) string {
	t.Helper()
	var h http.Handler = registry.New(registry.WithReferrersSupport(o.Referrers), registry.Logger(log.New(io.Discard, "", 0)))
	if o.Username != "" {
		h = basicAuth(h, o.Username, o.Password)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="testkit"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RegistryBinary is the registry program RegistryProcess starts (Debian's docker-registry,
// distribution v2.8); SHIPGATE_REGISTRY_BIN overrides it.
func RegistryBinary() string {
	if b := os.Getenv("SHIPGATE_REGISTRY_BIN"); b != "" {
		return b
	}
	return "docker-registry"
}

// RegistryProcess starts a real registry process (distribution) on 127.0.0.1 with its storage in a
// temporary directory, waits until it answers, and stops it when the test ends. It returns
// host:port. Without the binary the test is skipped, unless SHIPGATE_REQUIRE_REGISTRY=1 (set by
// CI), where a missing binary fails the test.
func RegistryProcess(t testing.TB, o RegistryOptions) string {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary())
	if err != nil {
		if os.Getenv("SHIPGATE_REQUIRE_REGISTRY") == "1" {
			t.Fatalf("registry binary %q not found (SHIPGATE_REQUIRE_REGISTRY=1): apt-get install docker-registry", RegistryBinary())
		}
		t.Skipf("registry binary %q not found: apt-get install docker-registry to run this test", RegistryBinary())
	}
	if o.Referrers {
		t.Fatalf("RegistryProcess: distribution v2.8 has no referrers API; use Registry for that lane")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	auth := ""
	if o.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(o.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: testkit\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "data"), addr, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry process on %s did not answer within 15s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
