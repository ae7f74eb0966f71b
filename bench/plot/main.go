// Command plot draws the PNG charts of a bench/run report (gonum/plot):
//
//	go run ./bench/plot -json bench/results/DATE.json [-prefix bench/results/DATE]
//
// It writes PREFIX-s1.png (S1 throughput, topspeed vs Flink vs parse-only),
// PREFIX-s2.png and PREFIX-s2-state.png (S2 cost curves: events/s and
// elements held vs window length), PREFIX-s3.png (S3 events/s vs number
// of keys), PREFIX-s5.png (S5 failover distribution) and PREFIX-s6.png
// (S6 WordCount MB/s), each only if the report has its scenario, and
// prints the path of every file written.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// report is the part of bench/cmd/benchrun's JSON that the charts need.
type report struct {
	Date    string `json:"date"`
	Mode    string `json:"mode"`
	Machine struct {
		CPUs int `json:"cpus"`
	} `json:"machine"`
	Cases []struct {
		Scenario string             `json:"scenario"`
		ID       string             `json:"id"`
		Label    string             `json:"label"`
		Engine   string             `json:"engine"`
		X        float64            `json:"x"`
		Events   int64              `json:"events"`
		EvPerS   float64            `json:"events_per_s"`
		MBPerS   float64            `json:"mb_per_s"`
		State    map[string]float64 `json:"state"`
		Error    string             `json:"error"`
		Runs     []struct {
			Wall float64 `json:"wall_s"`
		} `json:"runs"`
	} `json:"cases"`
	Failover *struct {
		FailoverMS []float64 `json:"failover_ms"`
		HandoverMS []float64 `json:"handover_ms"`
	} `json:"failover"`
}

var (
	tsColor    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	flinkColor = color.RGBA{R: 0xe6, G: 0x55, B: 0x0d, A: 0xff}
	grayColor  = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
)

func main() {
	in := flag.String("json", "", "report JSON written by bench/run")
	prefix := flag.String("prefix", "", "output path prefix (default: the JSON path without .json)")
	flag.Parse()
	if *in == "" {
		fmt.Fprintln(os.Stderr, "usage: plot -json FILE [-prefix P]")
		os.Exit(2)
	}
	if *prefix == "" {
		*prefix = strings.TrimSuffix(*in, ".json")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		fail(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		fail(err)
	}
	for _, f := range []func(*report, string) (string, error){s1, s2, s2State, s3, s5, s6} {
		path, err := f(&r, *prefix)
		if err != nil {
			fail(err)
		}
		if path != "" {
			fmt.Println(path)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "plot:", err)
	os.Exit(1)
}

func engineColor(engine string) color.Color {
	switch engine {
	case "topspeed":
		return tsColor
	case "flink":
		return flinkColor
	}
	return grayColor
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// humanTicks relabels another ticker's labels as 2.5M, 40k.
type humanTicks struct{ inner plot.Ticker }

func (t humanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := t.inner.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = human(ts[i].Value)
		}
	}
	return ts
}

// countTicks labels whole numbers only.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" && ts[i].Value != math.Trunc(ts[i].Value) {
			ts[i].Label = ""
		} else if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%.0f", ts[i].Value)
		}
	}
	return ts
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// bars draws one bar per value with its label above, colored per engine.
func bars(p *plot.Plot, names []string, values []float64, engines []string, unit string) error {
	w := vg.Points(40)
	var xys plotter.XYs
	var labels []string
	for i, v := range values {
		bc, err := plotter.NewBarChart(plotter.Values{v}, w)
		if err != nil {
			return err
		}
		bc.Color = engineColor(engines[i])
		bc.LineStyle.Width = 0
		bc.XMin = float64(i)
		p.Add(bc)
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
		labels = append(labels, human(v)+unit)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	l.Offset = vg.Point{Y: vg.Points(2)}
	p.Add(l)
	p.NominalX(names...)
	p.Y.Tick.Marker = humanTicks{plot.DefaultTicks{}}
	p.X.Min, p.X.Max = -0.6, float64(len(values))-0.4
	p.Y.Min = 0
	_, hi := minMax(values)
	p.Y.Max = hi * 1.15
	return nil
}

func minMax(v []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

func title(r *report, s string) string {
	return fmt.Sprintf("%s (%s, %d CPUs)", s, r.Date, r.Machine.CPUs)
}

func s1(r *report, prefix string) (string, error) {
	var names, engines []string
	var values []float64
	var events int64
	for _, c := range r.Cases {
		if c.Scenario != "S1" || c.Error != "" || c.EvPerS <= 0 {
			continue
		}
		name := strings.ReplaceAll(strings.SplitN(c.Label, " (", 2)[0], ", parallelism ", " p=")
		names = append(names, strings.Replace(name, "Flink TopSpeedWindowing", "Flink", 1))
		values = append(values, c.EvPerS)
		engines = append(engines, c.Engine)
		events = c.Events
	}
	if len(values) == 0 {
		return "", nil
	}
	p := newPlot(title(r, fmt.Sprintf("S1 TopSpeed, %s events, 1000 cars", human(float64(events)))), "", "events/s (median wall time)")
	if err := bars(p, names, values, engines, ""); err != nil {
		return "", err
	}
	path := prefix + "-s1.png"
	return path, p.Save(7*vg.Inch, 4*vg.Inch, path)
}

// curves draws events/s (or a state value) against X for both engines.
func curves(r *report, prefix, scenario, file, ttl, xl, yl string, val func(i int) (float64, bool)) (string, error) {
	series := map[string]plotter.XYs{}
	for i, c := range r.Cases {
		if c.Scenario != scenario || c.Error != "" || c.X <= 0 {
			continue
		}
		v, ok := val(i)
		if !ok || v <= 0 {
			continue
		}
		series[c.Engine] = append(series[c.Engine], plotter.XY{X: c.X, Y: v})
	}
	if len(series) == 0 {
		return "", nil
	}
	p := newPlot(title(r, ttl), xl, yl)
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = humanTicks{plot.LogTicks{Prec: -1}}, humanTicks{plot.LogTicks{Prec: -1}}
	p.Legend.Top, p.Legend.Left = false, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), vg.Points(10)
	var engines []string
	for e := range series {
		engines = append(engines, e)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(engines))) // topspeed first
	var all []float64
	for _, e := range engines {
		xys := series[e]
		sort.Slice(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", err
		}
		line.Color, pts.Color = engineColor(e), engineColor(e)
		line.Width = vg.Points(2)
		p.Add(line, pts)
		name := e
		if e == "flink" {
			name = "Flink 1.20.3"
		}
		p.Legend.Add(name, line, pts)
		var lbl []string
		for _, xy := range xys {
			lbl = append(lbl, human(xy.Y))
			all = append(all, xy.Y)
		}
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: lbl})
		if err != nil {
			return "", err
		}
		l.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(4)}
		p.Add(l)
	}
	lo, hi := minMax(all)
	p.Y.Min, p.Y.Max = lo/10, hi*3
	p.X.Max *= 2
	path := prefix + file
	return path, p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func s2(r *report, prefix string) (string, error) {
	return curves(r, prefix, "S2", "-s2.png", "S2 cost curve: throughput vs window length", "TimeEvictor size (s of event time)", "events/s",
		func(i int) (float64, bool) { return r.Cases[i].EvPerS, true })
}

func s2State(r *report, prefix string) (string, error) {
	return curves(r, prefix, "S2", "-s2-state.png", "S2 cost curve: state vs window length", "TimeEvictor size (s of event time)", "elements held in window state",
		func(i int) (float64, bool) {
			st := r.Cases[i].State
			if st == nil {
				return 0, false
			}
			if v, ok := st["retained"]; ok {
				return v, true
			}
			v, ok := st["elements"]
			return v, ok
		})
}

func s3(r *report, prefix string) (string, error) {
	return curves(r, prefix, "S3", "-s3.png", "S3 cost curve: throughput vs number of keys", "cars (keys)", "events/s",
		func(i int) (float64, bool) { return r.Cases[i].EvPerS, true })
}

func s5(r *report, prefix string) (string, error) {
	f := r.Failover
	if f == nil || len(f.FailoverMS) == 0 {
		return "", nil
	}
	p := newPlot(title(r, fmt.Sprintf("S5 failover after kill -9, %d kills", len(f.FailoverMS))),
		"ms from SIGKILL of the leader to the new leader (Flink K8s HA: >= 15000 ms, documented)", "kills")
	bins := min(max(len(f.FailoverMS)/2, 4), 20)
	h, err := plotter.NewHist(plotter.Values(f.FailoverMS), bins)
	if err != nil {
		return "", err
	}
	h.FillColor = tsColor
	h.LineStyle.Width = vg.Points(0.5)
	p.Add(h)
	p.Legend.Add("topspeed failover", h)
	if len(f.HandoverMS) > 0 {
		var xys plotter.XYs
		for _, v := range f.HandoverMS {
			xys = append(xys, plotter.XY{X: v, Y: 0.1})
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return "", err
		}
		sc.Color = flinkColor
		sc.Shape = draw.TriangleGlyph{}
		sc.Radius = vg.Points(4)
		p.Add(sc)
		p.Legend.Add("topspeed SIGTERM handover", sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(10)
	p.X.Min = 0
	_, hi := minMax(append(append([]float64(nil), f.FailoverMS...), f.HandoverMS...))
	p.X.Max = hi * 1.1
	p.Y.Tick.Marker = countTicks{}
	path := prefix + "-s5.png"
	return path, p.Save(7*vg.Inch, 4*vg.Inch, path)
}

func s6(r *report, prefix string) (string, error) {
	var names, engines []string
	var values []float64
	for _, c := range r.Cases {
		if c.Scenario != "S6" || c.Error != "" || c.MBPerS <= 0 {
			continue
		}
		names = append(names, c.Label)
		values = append(values, c.MBPerS)
		engines = append(engines, c.Engine)
	}
	if len(values) == 0 {
		return "", nil
	}
	p := newPlot(title(r, "S6 WordCount on Zipf text"), "", "MB/s of input (median wall time)")
	if err := bars(p, names, values, engines, " MB/s"); err != nil {
		return "", err
	}
	path := prefix + "-s6.png"
	return path, p.Save(6*vg.Inch, 4*vg.Inch, path)
}
