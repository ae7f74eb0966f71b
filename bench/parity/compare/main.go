// Command compare checks that two TopSpeedWindowing result sets are the same
// per car.
//
//	compare [-max-diffs N] A B
//
// A and B are each a file or a directory. A directory is read recursively,
// hidden files included (Flink's FileSink keeps in-progress data in hidden
// ".part-*.inprogress.*" files). Every non-empty line must be a Flink Tuple4
// string "(carId,speed,distance,timestamp)".
//
// Records are grouped by carId, keeping their order within each source. Flink
// only orders records per key (each car goes to one parallel subtask and
// subtasks write separate part files), so the order across cars is ignored.
// Per car, both sides must have the same number of records in the same order,
// with carId, speed and timestamp equal as integers and distance equal as a
// float64 (parsed with strconv.ParseFloat, so Java's "1.0E7" and Go's "1e+07"
// are the same number).
//
// Files of a directory are read in an order that keeps a writer's records in
// the order it wrote them: by bucket directory, then, for FileSink part files
// (part-<uuid>-<n> and their in-progress form .part-<uuid>-<n>.inprogress.<id>,
// one uuid per subtask and bucket), by uuid and the part counter n as a
// number; other files by name.
//
// Exit status: 0 identical (prints one summary line), 1 different (prints the
// first differing car and index with both records, then a summary), 2 usage
// or read/parse error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// record is one parsed result line and where it came from.
type record struct {
	car      int64
	speed    int64
	distance float64
	ts       int64
	raw      string
	file     string
	line     int
}

func (r record) where() string { return fmt.Sprintf("%s:%d", r.file, r.line) }

// result holds one side: records per car in source order, and car ids in
// order of first appearance (for deterministic reports).
type result struct {
	loc     string
	files   int
	records int
	byCar   map[int64][]record
	cars    []int64
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("compare", flag.ContinueOnError)
	fl.SetOutput(stderr)
	maxDiffs := fl.Int("max-diffs", 1, "number of differing cars to print in detail")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: compare [-max-diffs N] A B   (A, B: result file or directory)")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 2 {
		fl.Usage()
		return 2
	}
	a, err := load(fl.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	b, err := load(fl.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	return report(a, b, *maxDiffs, stdout)
}

// carDiff describes how one car differs between A and B.
type carDiff struct {
	car  int64
	idx  int     // first differing index
	ra   *record // nil when A has no record at idx
	rb   *record // nil when B has no record at idx
	why  string
	lenA int
	lenB int
}

func report(a, b *result, maxDiffs int, w io.Writer) int {
	// Union of cars: A's order, then cars only in B.
	cars := append([]int64(nil), a.cars...)
	for _, c := range b.cars {
		if _, ok := a.byCar[c]; !ok {
			cars = append(cars, c)
		}
	}
	var diffs []carDiff
	onlyA, onlyB := 0, 0
	for _, c := range cars {
		ra, rb := a.byCar[c], b.byCar[c]
		switch {
		case len(rb) == 0:
			onlyA++
		case len(ra) == 0:
			onlyB++
		}
		if d, ok := diffCar(c, ra, rb); !ok {
			diffs = append(diffs, d)
		}
	}
	if len(diffs) == 0 {
		fmt.Fprintf(w, "compare: identical: %d cars, %d records (%s: %d files, %s: %d files)\n",
			len(a.cars), a.records, a.loc, a.files, b.loc, b.files)
		return 0
	}
	for i, d := range diffs {
		if i >= maxDiffs {
			break
		}
		fmt.Fprintf(w, "compare: car %d differs at index %d (%s; A has %d records, B has %d)\n",
			d.car, d.idx, d.why, d.lenA, d.lenB)
		fmt.Fprintf(w, "  A: %s\n", show(d.ra))
		fmt.Fprintf(w, "  B: %s\n", show(d.rb))
	}
	fmt.Fprintf(w, "compare: DIFFERENT: %d of %d cars differ (%d only in A, %d only in B); "+
		"A %s: %d cars, %d records; B %s: %d cars, %d records\n",
		len(diffs), len(cars), onlyA, onlyB,
		a.loc, len(a.cars), a.records, b.loc, len(b.cars), b.records)
	return 1
}

func show(r *record) string {
	if r == nil {
		return "(none)"
	}
	return fmt.Sprintf("%s   [%s]", r.raw, r.where())
}

// diffCar reports whether the two record lists are equal and, if not, the
// first difference.
func diffCar(car int64, ra, rb []record) (carDiff, bool) {
	d := carDiff{car: car, lenA: len(ra), lenB: len(rb)}
	n := min(len(ra), len(rb))
	for i := 0; i < n; i++ {
		if why := recordDiff(ra[i], rb[i]); why != "" {
			d.idx, d.ra, d.rb, d.why = i, &ra[i], &rb[i], why
			return d, false
		}
	}
	if len(ra) == len(rb) {
		return d, true
	}
	d.idx = n
	d.why = "record count"
	if n < len(ra) {
		d.ra = &ra[n]
	}
	if n < len(rb) {
		d.rb = &rb[n]
	}
	return d, false
}

func recordDiff(x, y record) string {
	var bad []string
	if x.car != y.car {
		bad = append(bad, "carId")
	}
	if x.speed != y.speed {
		bad = append(bad, "speed")
	}
	if !sameFloat(x.distance, y.distance) {
		bad = append(bad, "distance")
	}
	if x.ts != y.ts {
		bad = append(bad, "timestamp")
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, ",") + " differ"
}

// sameFloat is float64 equality, with NaN equal to NaN (Java prints "NaN").
func sameFloat(x, y float64) bool {
	return x == y || (math.IsNaN(x) && math.IsNaN(y))
}

// load reads a result file or directory.
func load(loc string) (*result, error) {
	st, err := os.Stat(loc)
	if err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		err = filepath.WalkDir(loc, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sortFiles(files)
	} else {
		files = []string{loc}
	}
	res := &result{loc: loc, files: len(files), byCar: map[int64][]record{}}
	for _, f := range files {
		if err := readFile(f, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func readFile(path string, res *result) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := parseLine(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %v: %q", path, n, err, line)
		}
		r.file, r.line = path, n
		if _, ok := res.byCar[r.car]; !ok {
			res.cars = append(res.cars, r.car)
		}
		res.byCar[r.car] = append(res.byCar[r.car], r)
		res.records++
	}
	return sc.Err()
}

var errFormat = errors.New("not a (carId,speed,distance,timestamp) tuple")

// parseLine parses Flink's Tuple4.toString: "(f0,f1,f2,f3)".
func parseLine(line string) (record, error) {
	s := strings.TrimSpace(line)
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return record{}, errFormat
	}
	parts := strings.Split(s[1:len(s)-1], ",")
	if len(parts) != 4 {
		return record{}, errFormat
	}
	var r record
	var err error
	if r.car, err = strconv.ParseInt(parts[0], 10, 32); err != nil {
		return record{}, fmt.Errorf("carId: %w", err)
	}
	if r.speed, err = strconv.ParseInt(parts[1], 10, 32); err != nil {
		return record{}, fmt.Errorf("speed: %w", err)
	}
	if r.distance, err = strconv.ParseFloat(parts[2], 64); err != nil {
		return record{}, fmt.Errorf("distance: %w", err)
	}
	if r.ts, err = strconv.ParseInt(parts[3], 10, 64); err != nil {
		return record{}, fmt.Errorf("timestamp: %w", err)
	}
	r.raw = s
	return r, nil
}

// partName matches FileSink part files, finished or in progress:
// part-<uuid>-<n> and .part-<uuid>-<n>.inprogress.<uuid> (default
// OutputFileConfig: prefix "part", empty suffix). Each subtask's bucket writer
// has its own uuid and counts n up from 0 as it rolls files.
var partName = regexp.MustCompile(
	`^\.?part-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-(\d+)(\..*)?$`)

type fileKey struct {
	dir     string
	isPart  bool
	uuid    string
	counter int64
	name    string
}

func keyOf(p string) fileKey {
	k := fileKey{dir: filepath.Dir(p), name: filepath.Base(p)}
	if m := partName.FindStringSubmatch(k.name); m != nil {
		k.isPart = true
		k.uuid = m[1]
		k.counter, _ = strconv.ParseInt(m[2], 10, 64)
	}
	return k
}

// sortFiles orders files so that each writer's files come in writing order.
func sortFiles(files []string) {
	keys := make(map[string]fileKey, len(files))
	for _, f := range files {
		keys[f] = keyOf(f)
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := keys[files[i]], keys[files[j]]
		if a.dir != b.dir {
			return a.dir < b.dir
		}
		if a.isPart != b.isPart {
			return !a.isPart
		}
		if a.isPart {
			if a.uuid != b.uuid {
				return a.uuid < b.uuid
			}
			if a.counter != b.counter {
				return a.counter < b.counter
			}
		}
		return a.name < b.name
	})
}
