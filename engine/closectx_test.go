package engine_test

import (
	"context"
	"testing"
)

// ctxCloser records the context CloseContext gets and whether plain Close
// was called instead.
type ctxCloser struct {
	collect
	ctxErr     error
	gotCtx     bool
	plainClose bool
}

func (c *ctxCloser) Close() error { c.plainClose = true; return nil }
func (c *ctxCloser) CloseContext(ctx context.Context) error {
	c.gotCtx, c.ctxErr = true, ctx.Err()
	return nil
}

// A sink with CloseContext gets a live context after a clean end and a
// cancelled one after a failure, and Close is not called.
func TestSinkCloseContext(t *testing.T) {
	ok := &ctxCloser{}
	if err := build(&sliceSource{recs: seq(100), chunk: 7}, ok).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !ok.gotCtx || ok.plainClose || ok.ctxErr != nil {
		t.Fatalf("clean end: CloseContext called %v (ctx err %v), Close called %v", ok.gotCtx, ok.ctxErr, ok.plainClose)
	}
	failed := &ctxCloser{}
	if err := build(&sliceSource{recs: seq(100), chunk: 7, failAt: 50}, failed).Run(context.Background()); err == nil {
		t.Fatal("the failing source did not fail the run")
	}
	if !failed.gotCtx || failed.ctxErr == nil {
		t.Fatalf("after a failure: CloseContext called %v with ctx err %v, want a cancelled context", failed.gotCtx, failed.ctxErr)
	}
}
