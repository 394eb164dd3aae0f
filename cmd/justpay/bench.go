package main

import (
	"context"
	"errors"
	"io"
)

// runBench runs justpay bench with args, writing its report to stdout. The lead replaces this
// file with the real benchmark.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("bench: not built yet")
}
