package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/ops"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// synthetic are series Prometheus itself adds to every target.
var synthetic = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// exportedNames runs the TopSpeed job with the binary's metrics wiring until
// every stage reports, and returns the names of every series it exports
// (histograms and summaries with their _bucket, _sum and _count series).
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := ops.NewRegistry(ops.ReadBuildInfo("test", "test"))
	rec := ops.NewRecorder(reg)
	rec.CheckpointCompleted(1, time.Millisecond, 1)
	ops.NewServer(ops.Config{Gatherer: reg, Registerer: reg, Recorder: rec})

	gen, err := topspeed.NewGenerator(topspeed.GeneratorConfig{Cars: 10, Rate: 2000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := engine.New(engine.WithParallelism(2), engine.WithMetrics(reg))
	cars := engine.FromSource(p, "cars", engine.Source[topspeed.Car](gen), engine.Monotonous(topspeed.CarTime))
	results := topspeed.Build(cars, topspeed.DefaultConfig())
	engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewWriter("discard", io.Discard, topspeed.AppendCar)))
	cc := cassandra.DefaultConfig()
	cc.Hosts = []string{"127.0.0.1"}
	cs, err := cassandra.New(cc, topspeed.CassandraMapping(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(cs) // as cmd/topspeed does; never opened here

	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	// Gauges exist while the job runs; the sink's flush histogram gets its
	// first observation at the final flush: gather while running (once the
	// operators' gauges and the sink's histograms are there) and after Stop.
	names := map[string]bool{}
	gather := func() {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			n := mf.GetName()
			names[n] = true
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				names[n+"_sum"], names[n+"_count"] = true, true
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		gather()
		if names["topspeed_operator_keys"] && names["topspeed_event_time_lag_seconds"] &&
			names["topspeed_sink_write_duration_seconds"] && names["topspeed_end_to_end_latency_seconds"] {
			p.Stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			gather()
			return names
		}
		if time.Now().After(deadline) {
			p.Stop()
			<-done
			t.Fatalf("the job's gauges did not appear; have %v", slices.Sorted(func(yield func(string) bool) {
				for n := range names {
					if !yield(n) {
						return
					}
				}
			}))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Grafana's built-in variables become fixed durations; every other
// variable (inside label matchers) becomes a regexp matching anything.
var (
	durationVars = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)
	otherVars    = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
	labelValues  = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

func expand(expr string) string {
	expr = durationVars.ReplaceAllString(expr, "5m")
	return otherVars.ReplaceAllString(expr, ".*")
}

// metricNames parses a PromQL expression and returns the metric names its
// selectors use.
// metricNameLabel is the label holding a series' name (prometheus/common's
// model.MetricNameLabel; labels.MetricName is deprecated).
const metricNameLabel = "__name__"

func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expand(expr))
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == metricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			names = append(names, "") // a selector without a fixed metric name
		} else {
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// dashboardExprs returns every PromQL expression of a Grafana dashboard:
// panel targets (rows included) and query variables, keyed by where they are.
func dashboardExprs(data []byte) (map[string]string, error) {
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					out[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = tg.Expr
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("variable %s: %w", v.Name, err)
			}
			q = obj.Query
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1] // label_values(selector, label): check the selector
		}
		out["variable "+v.Name] = q
	}
	return out, nil
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// rulesExprs returns the expressions of a Prometheus rule file.
func rulesExprs(data []byte) (map[string]string, error) {
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[fmt.Sprintf("group %s rule %s%s", g.Name, r.Alert, r.Record)] = r.Expr
		}
	}
	return out, nil
}

// check parses every expression and reports syntax errors and metric names
// that topspeed does not export.
func check(exprs map[string]string, exported map[string]bool) error {
	var errs []string
	for where, e := range exprs {
		names, err := metricNames(e)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q: %v", where, e, err))
			continue
		}
		for _, n := range names {
			switch {
			case n == "":
				errs = append(errs, fmt.Sprintf("%s: a selector without a metric name in %q", where, e))
			case !exported[n] && !synthetic[n]:
				errs = append(errs, fmt.Sprintf("%s: metric %s is not exported by topspeed", where, n))
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	dash, err := dashboardExprs(readFile(t, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dash) < 30 {
		t.Fatalf("only %d expressions found in the dashboard", len(dash))
	}
	if err := check(dash, exported); err != nil {
		t.Errorf("dashboard:\n%v", err)
	}
	rules, err := rulesExprs(readFile(t, "topspeed-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 5 {
		t.Fatalf("only %d rules found", len(rules))
	}
	if err := check(rules, exported); err != nil {
		t.Errorf("alert rules:\n%v", err)
	}

	// The check itself must fail on a dashboard naming a metric topspeed
	// does not export, and on one that does not parse.
	var d map[string]any
	if err := json.Unmarshal(readFile(t, "grafana-dashboard.json"), &d); err != nil {
		t.Fatal(err)
	}
	d["panels"] = append(d["panels"].([]any),
		map[string]any{"title": "bogus", "targets": []any{map[string]any{"refId": "A", "expr": `sum(rate(topspeed_nonexistent_total{job=~"$job"}[$__rate_interval]))`}}},
		map[string]any{"title": "broken", "targets": []any{map[string]any{"refId": "A", "expr": `sum(rate(topspeed_records_in_total[5m])`}}},
	)
	bad, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := dashboardExprs(bad)
	if err != nil {
		t.Fatal(err)
	}
	err = check(exprs, exported)
	if err == nil || !strings.Contains(err.Error(), `panel "bogus" target A: metric topspeed_nonexistent_total is not exported`) ||
		!strings.Contains(err.Error(), `panel "broken" target A`) {
		t.Fatalf("check of a bad dashboard = %v", err)
	}
}

// TestDashboardShape checks what Grafana needs to import the file as is
// (for example from a ConfigMap): a fixed uid, the datasource variable used
// by every panel, and no import-time inputs.
func TestDashboardShape(t *testing.T) {
	var d struct {
		UID    string            `json:"uid"`
		Inputs []json.RawMessage `json:"__inputs"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(readFile(t, "grafana-dashboard.json"), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || len(d.Inputs) > 0 {
		t.Fatalf("uid %q, __inputs %d", d.UID, len(d.Inputs))
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Type != "datasource" {
		t.Fatalf("the first variable must be the datasource: %+v", d.Templating.List)
	}
	rows := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows[p.Title] = true
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use ${datasource}", p.Title)
		}
	}
	for _, r := range []string{"Throughput", "Lag and latency", "Checkpoints", "Cassandra sink", "High availability", "Resources"} {
		if !rows[r] {
			t.Errorf("no %q row", r)
		}
	}
}
