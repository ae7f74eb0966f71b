package main

import (
	"fmt"
	"io"

	"github.com/topspeed/topspeed/internal/ops"
)

// Set with -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234"; when
// empty, the binary's embedded build information is used.
var (
	version string
	commit  string
)

func buildInfo() ops.BuildInfo { return ops.ReadBuildInfo(version, commit) }

// runVersion is `topspeed version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "topspeed: version takes no arguments, got %q\n", args[0])
		return exitUsage
	}
	b := buildInfo()
	fmt.Fprintf(stdout, "topspeed %s\ncommit: %s\ngo: %s\n", b.Version, b.Revision, b.GoVersion)
	return exitOK
}
