package wordcount

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/topspeed/topspeed/engine"
)

// Concat returns a source that reads srcs one after the other: it opens a
// source when it reaches it and closes it at its end, so that at most one
// is open at a time. Its input ends after the last source's. It cannot be
// checkpointed (it is not an engine.StatefulSource).
func Concat[T any](srcs ...engine.Source[T]) engine.Source[T] {
	return &concat[T]{srcs: srcs}
}

type concat[T any] struct {
	srcs []engine.Source[T]
	i    int  // current source
	open bool // srcs[i] is open
}

// Open opens the first source.
func (c *concat[T]) Open(ctx context.Context) error {
	c.i, c.open = 0, false
	return c.openCurrent(ctx)
}

func (c *concat[T]) openCurrent(ctx context.Context) error {
	if c.i >= len(c.srcs) || c.open {
		return nil
	}
	if err := c.srcs[c.i].Open(ctx); err != nil {
		return err
	}
	c.open = true
	return nil
}

// Read reads from the current source and moves to the next at its end.
func (c *concat[T]) Read(ctx context.Context, buf []T) (int, error) {
	for {
		if c.i >= len(c.srcs) {
			return 0, io.EOF
		}
		if err := c.openCurrent(ctx); err != nil {
			return 0, err
		}
		n, err := c.srcs[c.i].Read(ctx, buf)
		if !errors.Is(err, io.EOF) {
			return n, err
		}
		c.open = false
		cerr := c.srcs[c.i].Close()
		c.i++
		switch {
		case cerr != nil:
			return n, fmt.Errorf("close: %w", cerr)
		case c.i == len(c.srcs):
			return n, io.EOF
		case n > 0:
			return n, nil
		}
	}
}

// Close closes the open source, if any.
func (c *concat[T]) Close() error {
	if !c.open {
		return nil
	}
	c.open = false
	return c.srcs[c.i].Close()
}
