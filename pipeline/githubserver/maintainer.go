package githubserver

// What a maintainer does by hand in GitHub's web interface, for tests and the demo: mark a pull
// request ready for review, and approve it.

// MarkReady takes pull request number of full out of draft, as "Ready for review" does.
func (s *Server) MarkReady(full string, number int) {
	s.withPull(full, number, func(_ *repo, pr *pull) {
		pr.draft = false
		pr.computed = s.opts.EagerMergeability
	})
}

// Approve submits an approving review of pull request number by login, a maintainer with push
// access, on its current head.
func (s *Server) Approve(full string, number int, login string) {
	s.withPull(full, number, func(rp *repo, pr *pull) {
		pr.reviews = append(pr.reviews, &review{id: s.id(), login: login, state: "APPROVED", commit: rp.headSHA(pr), writer: true, at: s.clk.Now()})
		pr.computed = s.opts.EagerMergeability
		s.runAutoMergesLocked(rp)
	})
}
