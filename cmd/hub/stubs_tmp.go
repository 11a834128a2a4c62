package main

import (
	"context"
	"io"
)

func runBackup(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int  { return 0 }
func runRestore(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int { return 0 }
func runDoctor(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int  { return 0 }
