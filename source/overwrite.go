package source

import (
	"fmt"
	"os"
)

// CheckOutput returns an error if writing the file output would destroy
// the input file input: the same path, or the same file through a hard
// link, a symbolic link (either way round) or a linked directory (the
// files are compared by device and inode, os.SameFile). "" and "-"
// (stdin, stdout) never conflict, nor does an output that does not exist
// yet. Jobs call it when they check their flags, before the output is
// created or truncated.
func CheckOutput(input, output string) error {
	if input == "" || input == "-" || output == "" || output == "-" {
		return nil
	}
	in, err := os.Stat(input)
	if err != nil {
		return nil // the source reports a missing input where it reads it
	}
	if out, err := os.Stat(output); err == nil && os.SameFile(in, out) {
		return fmt.Errorf("--output %s is the input file %s: writing it would truncate the input", output, input)
	}
	return nil
}
