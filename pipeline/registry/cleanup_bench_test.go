package registry

import (
	"context"
	"fmt"
	"testing"

	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// BenchmarkCandidateTags reports registry requests/op of listing 1.2.3's candidates (one phase:
// a fresh client, its token handshake included) among 1000 tags of other versions, at 10 and
// 1000 candidate tags. The listing starts after "1.2.3-rc" and stops past the candidates, so its
// cost follows the candidates (pages of 100), not the repository's history.
func BenchmarkCandidateTags(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			e := newEnv(b, testkit.Registry(b, testkit.RegistryOptions{}))
			e.tagMany(historyTags(250, n)) // 1000 other tags
			v := version.MustParse("1.2.3")
			ctx := context.Background()
			e.counter.Reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := e.fresh().CandidateTags(ctx, e.repo, v)
				if err != nil || len(got) != n {
					b.Fatalf("%d candidates, %v", len(got), err)
				}
			}
			b.StopTimer()
			testkit.ReportPerOp(b, e.counter.Total())
		})
	}
}
