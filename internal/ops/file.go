package ops

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSmallFile bounds the configuration and secret files ReadSmallFile
// reads (--config, --http-token-file, --cassandra-password-file).
const MaxSmallFile = 1 << 20

// ReadSmallFile reads a configuration or secret file of at most max bytes.
// It refuses at once what is not a regular file (a directory, /dev/zero, a
// pipe) and a file larger than max, so that a wrong path can neither block
// nor exhaust memory. flag names the setting in errors, e.g.
// "--http-token-file" ("--http-token-file /x: not a regular file").
// Errors never include the content.
func ReadSmallFile(flag, path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s %s: %w", flag, path, pe.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s: not a regular file (%s)", flag, path, fi.Mode().Type())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s %s: %d bytes, more than the limit of %d", flag, path, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", flag, path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %s: more than the limit of %d bytes", flag, path, max)
	}
	return b, nil
}

// ReadToken reads a secret (a bearer token, a password) from a file with
// ReadSmallFile and trims surrounding white space; an empty secret is an
// error.
func ReadToken(flag, path string) (string, error) {
	b, err := ReadSmallFile(flag, path, MaxSmallFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New(flag + " " + path + ": the file is empty")
	}
	return tok, nil
}
