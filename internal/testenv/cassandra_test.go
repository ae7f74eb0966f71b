package testenv

import (
	"archive/zip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFilesContainingSearchesFilesAndZipEntries(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("system.log", "INFO login of demo-superuser\n")
	write("stdout.log", "WARN s3cr3t-value leaked\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/other.log", "also other-secret here\n")
	zf, err := os.Create(filepath.Join(dir, "system.log.1.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	w, err := zw.Create("system.log.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("rolled: s3cr3t-value\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()

	got := FilesContaining(t, dir, "s3cr3t-value", "", "other-secret")
	want := []string{
		filepath.Join(dir, "stdout.log"),
		filepath.Join(dir, "sub", "other.log"),
		filepath.Join(dir, "system.log.1.zip") + ":system.log.1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := FilesContaining(t, dir, "absent"); len(got) != 0 {
		t.Fatalf("got %q for an absent string", got)
	}
}

func TestCassandraDirFollowsThePasswordFile(t *testing.T) {
	work := t.TempDir()
	for _, d := range []string{"secrets", "logs"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TOPSPEED_CASSANDRA_DIR", "")
	t.Setenv("CASSANDRA_PASSWORD_FILE", filepath.Join(work, "secrets", "demo-superuser-password"))
	if got := cassandraDir(); got != work {
		t.Fatalf("cassandraDir() = %q, want %q", got, work)
	}
	t.Setenv("TOPSPEED_CASSANDRA_DIR", "/elsewhere")
	if got := cassandraDir(); got != "/elsewhere" {
		t.Fatalf("TOPSPEED_CASSANDRA_DIR must win, got %q", got)
	}
}
