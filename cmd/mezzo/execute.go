package main

import (
	"context"
	"errors"
)

func runExecute(ctx context.Context, args []string) error {
	return errors.New("not built yet")
}
