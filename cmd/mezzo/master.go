package main

import (
	"context"
	"errors"
)

func runMaster(ctx context.Context, args []string) error {
	return errors.New("not built yet")
}
