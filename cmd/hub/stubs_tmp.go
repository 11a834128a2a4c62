package main

import (
	"context"
	"io"
)

func runDoctor(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int  { return 0 }
