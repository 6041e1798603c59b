package main

import (
	"context"
	"errors"
)

func runFramework(ctx context.Context, args []string) error {
	return errors.New("not built yet")
}
