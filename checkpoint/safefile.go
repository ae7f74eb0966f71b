package checkpoint

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// MaxManifestSize bounds MANIFEST.json: a larger one is refused unread.
const MaxManifestSize = 1 << 20

// openRegular opens path for reading if it is a regular file, and refuses
// anything else (a symbolic link, a device, a FIFO, a socket, a
// directory) with an error naming it. It checks twice: lstat before
// opening, so that nothing else is ever opened, and fstat after opening
// with O_NOFOLLOW|O_NONBLOCK, so that a file swapped in between is
// neither followed nor, being a FIFO, waited on. The file's size is
// returned with it.
func openRegular(path string) (*os.File, int64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, 0, err
	}
	if err := regular(path, fi); err != nil {
		return nil, 0, err
	}
	return openAfterLstat(path)
}

// openAfterLstat is openRegular's second check: open without following a
// symbolic link or waiting on a FIFO, then fstat.
func openAfterLstat(path string) (*os.File, int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, 0, fmt.Errorf("%s is a symbolic link, not a regular file: refused", path)
		}
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err == nil {
		err = regular(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// regular refuses a file that is not a regular file, naming its type.
func regular(path string, fi os.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	what := "a " + fi.Mode().Type().String() + " file"
	switch t := fi.Mode().Type(); {
	case t&os.ModeSymlink != 0:
		what = "a symbolic link"
	case t&os.ModeDir != 0:
		what = "a directory"
	case t&os.ModeNamedPipe != 0:
		what = "a FIFO"
	case t&os.ModeSocket != 0:
		what = "a socket"
	case t&os.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%s is %s, not a regular file: refused", path, what)
}

// readManifestFile reads a manifest of at most MaxManifestSize bytes.
func readManifestFile(path string) ([]byte, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > MaxManifestSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a manifest may have: refused unread", path, size, MaxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%s: grew beyond the %d bytes a manifest may have: refused", path, MaxManifestSize)
	}
	return b, nil
}

// readDataFile reads the data file path, which the manifest records with
// fe's size and CRC-32C. A file of another size is refused before any of
// it is read, and at most that many bytes are read: memory stays bounded
// by the sizes the manifest records.
func readDataFile(path string, fe FileEntry) ([]byte, error) {
	if fe.Size < 0 {
		return nil, fmt.Errorf("%s: manifest records size %d", fe.Name, fe.Size)
	}
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size != fe.Size {
		return nil, fmt.Errorf("%s: %d bytes, manifest says %d", fe.Name, size, fe.Size)
	}
	b := make([]byte, fe.Size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: %w (the file changed while read?)", fe.Name, err)
	}
	if n, _ := f.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("%s: grew beyond the %d bytes the manifest says while read", fe.Name, fe.Size)
	}
	if c := crc32.Checksum(b, castagnoli); c != fe.CRC32C {
		return nil, fmt.Errorf("%s: CRC-32C %08x, manifest says %08x", fe.Name, c, fe.CRC32C)
	}
	return b, nil
}
