//go:build !unix

package source

import "os"

// pollableStdin is only implemented on Unix: elsewhere a read from a
// silent stdin may block until input or its end.
func pollableStdin(*os.File) (*os.File, func(), bool) { return nil, nil, false }
