package main

import (
	"context"
	"errors"
)

func runExperiment(ctx context.Context, args []string) error {
	return errors.New("not built yet")
}
