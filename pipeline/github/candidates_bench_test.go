package github

import (
	"fmt"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
)

// BenchmarkCandidates reports the GitHub requests of finding 1.2.3's candidates (git tags, and
// their releases: every candidate has a published pre-release) at
// 10 and 1000 candidate tags, in a repository with 1000 releases of history. The tag listing
// never reads other versions' tags; releases are read by tag up to 20 candidates, then listed.
func BenchmarkCandidates(b *testing.B) {
	for _, n := range []int{10, 1000} {
		e, commit := finalizedEnv(b, githubserver.Options{}, githubserver.RepoOptions{})
		for i := 0; i < 1000; i++ {
			tag := fmt.Sprintf("v0.%d.%d", i/100, i%100)
			e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: tag, Name: tag})
		}
		for i := 1; i <= n; i++ {
			tag := fmt.Sprintf("v1.2.3-rc.%d", i)
			e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: tag, Name: tag, Prerelease: true, Target: commit})
		}
		for _, l := range []struct {
			name string
			run  func() (int, error)
		}{
			{"CandidateGitTags", func() (int, error) {
				t, err := e.c.CandidateGitTags(e.ctx, app, v123, "v")
				return len(t), err
			}},
			{"CandidateReleases", func() (int, error) {
				r, err := e.c.CandidateReleases(e.ctx, app, v123, "v")
				return len(r), err
			}},
		} {
			b.Run(fmt.Sprintf("%s/candidates=%d", l.name, n), func(b *testing.B) {
				e.srv.ResetRequests()
				for i := 0; i < b.N; i++ {
					got, err := l.run()
					if err != nil || got != n {
						b.Fatalf("%d found, %v", got, err)
					}
				}
				b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
			})
		}
	}
}
