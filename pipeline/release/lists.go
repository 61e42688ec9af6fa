package release

import "context"

// The two loops over a list that the steps share.

// missing keeps, in order, the items has says are not there yet: what a step's act must do.
func missing[T any](ctx context.Context, items []T, has func(context.Context, T) (bool, error)) ([]T, error) {
	var out []T
	for _, it := range items {
		ok, err := has(ctx, it)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// mapAll applies f to each of xs in order; the first error stops it.
func mapAll[T, U any](xs []T, f func(T) (U, error)) ([]U, error) {
	var out []U
	for _, x := range xs {
		u, err := f(x)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
