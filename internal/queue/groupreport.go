package queue

import "context"

// Per-group reports of a job (reread22a F2; jobcommit.go).
//
// A job is what the plan made it (Planner): with a topology, the
// recipients only the directory can route are one job without a
// destination, and its Deliver routes them then into several groups —
// next hops, mailbox databases — each its own session. Their results
// came back together when the job ended, so the recipients a fast group
// handed on waited, pending on disk and in the copy's holder, for the
// slowest group's session (command_timeout, data_timeout): a kill -9 in
// between made the restarted server, and after a takeover the copy's
// holder, hand them on again. Now a Deliverer that runs several groups
// in one job reports each group's results as its session ends
// (ReportGroup), and they are committed then, as a job's that ends
// while others of its attempt run (commitJob): the job's own results,
// which repeat them, leave them out (attempt.early). The transactions
// of one session whose next hop takes only so many recipients each are
// reported the same way, each before the next begins (delivery
// reportRound).

type groupReportKey struct{}

// WithGroupReport gives a job's context the function that commits a
// group's results (the scheduler's; a test's that records them).
func WithGroupReport(ctx context.Context, f func([]Result)) context.Context {
	return withGroupReport(ctx, func(_ context.Context, res []Result) { f(res) })
}

// withGroupReport is WithGroupReport for a function that is given the
// reporting group's context: its strand's (Strand), whose wait for the
// commit is that group's alone.
func withGroupReport(ctx context.Context, f func(context.Context, []Result)) context.Context {
	return context.WithValue(ctx, groupReportKey{}, f)
}

// ReportGroup hands the results of one group of a job — one session, or
// one mailbox database's deliveries — to the queue as soon as that group
// ended, while other groups of the job still run: what is committable of
// them (jobCommittable) is committed then. The job returns them among
// its results all the same. A context of no job (a test's, a probe's)
// ignores it.
func ReportGroup(ctx context.Context, res []Result) {
	if f, ok := ctx.Value(groupReportKey{}).(func(context.Context, []Result)); ok && len(res) > 0 {
		f(ctx, res)
	}
}
