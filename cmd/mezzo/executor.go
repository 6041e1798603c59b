package main

import (
	"context"
	"errors"
)

func runExecutor(ctx context.Context, args []string) error {
	return errors.New("not built yet")
}
