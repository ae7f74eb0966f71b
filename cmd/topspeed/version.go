package main

// Set with -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234"
// (the Dockerfile does); when empty, the runner reads the binary's
// embedded build information. "topspeed version" prints them.
var (
	version string
	commit  string
)
