package validate

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// TanzuPrometheusDefaultJobs are the scrape jobs of the Tanzu Prometheus
// package's default prometheus_yml: a values file that sets
// prometheus_yml replaces the whole string, so it must carry them all.
var TanzuPrometheusDefaultJobs = []string{"prometheus", "kube-state-metrics", "node-exporter",
	"kubernetes-pods", "kubernetes-nodes-cadvisor", "kubernetes-apiservers"}

// AlertingRulesFile is where the package mounts alerting_rules_yml.
const AlertingRulesFile = "/etc/config/alerting_rules.yml"

// PrometheusValues is the part of the Tanzu Prometheus package's data
// values that topspeed's values file sets; other keys are refused.
type PrometheusValues struct {
	Namespace  string `yaml:"namespace"`
	Prometheus struct {
		Config struct {
			PrometheusYML    string `yaml:"prometheus_yml"`
			AlertingRulesYML string `yaml:"alerting_rules_yml"`
		} `yaml:"config"`
	} `yaml:"prometheus"`
}

func decodeStrictYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// promConfig is the subset of a Prometheus configuration that the
// package's default prometheus_yml and topspeed's job use, decoded
// strictly: an unknown or misspelled key is an error. (Prometheus's own
// config package would pull every service discovery's SDK into this
// module.)
type promConfig struct {
	Global struct {
		EvaluationInterval model.Duration `yaml:"evaluation_interval"`
		ScrapeInterval     model.Duration `yaml:"scrape_interval"`
		ScrapeTimeout      model.Duration `yaml:"scrape_timeout"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []promScrape   `yaml:"scrape_configs"`
	Alerting      map[string]any `yaml:"alerting"`
}

type promScrape struct {
	JobName        string         `yaml:"job_name"`
	MetricsPath    string         `yaml:"metrics_path"`
	Scheme         string         `yaml:"scheme"`
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration `yaml:"scrape_timeout"`
	StaticConfigs  []struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels"`
	} `yaml:"static_configs"`
	KubernetesSD []struct {
		Role       string `yaml:"role"`
		Namespaces struct {
			Names []string `yaml:"names"`
		} `yaml:"namespaces"`
	} `yaml:"kubernetes_sd_configs"`
	Relabel []struct {
		SourceLabels []string `yaml:"source_labels"`
		Separator    string   `yaml:"separator"`
		Action       string   `yaml:"action"`
		Regex        string   `yaml:"regex"`
		Replacement  string   `yaml:"replacement"`
		TargetLabel  string   `yaml:"target_label"`
	} `yaml:"relabel_configs"`
	TLSConfig *struct {
		CAFile             string `yaml:"ca_file"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	} `yaml:"tls_config"`
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// CheckPrometheusValues checks the values file for the Tanzu Prometheus
// package: prometheus_yml decodes strictly as a Prometheus configuration
// (durations, regexes and roles checked), keeps every default job
// and adds scrapeEntry (a one-element list, deploy/prometheus/
// scrape-topspeed.yaml) once, unchanged, and loads the alerting rules
// file; alerting_rules_yml parses and validates as Prometheus rules
// (PromQL included) and holds exactly the groups of alertRules
// (deploy/monitoring/topspeed-alerts.yaml).
func CheckPrometheusValues(values, scrapeEntry, alertRules []byte) []error {
	var p problems
	var v PrometheusValues
	if err := decodeStrictYAML(values, &v); err != nil {
		return []error{fmt.Errorf("values: %w", err)}
	}
	if v.Namespace == "" {
		p.add("values: no namespace (the package's namespace, tanzu-system-monitoring by default)")
	}
	checkPrometheusYML(&p, v.Prometheus.Config.PrometheusYML, scrapeEntry)
	rules := v.Prometheus.Config.AlertingRulesYML
	if _, errs := rulefmt.Parse([]byte(rules), false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger()); len(errs) > 0 {
		for _, err := range errs {
			p.add("alerting_rules_yml: %v", err)
		}
	}
	var got, want any
	if err := yaml.Unmarshal([]byte(rules), &got); err != nil {
		p.add("alerting_rules_yml: %v", err)
	}
	if err := yaml.Unmarshal(alertRules, &want); err != nil {
		p.add("alert rules file: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		p.add("alerting_rules_yml differs from deploy/monitoring/topspeed-alerts.yaml: copy its groups")
	}
	return p
}

func checkPrometheusYML(p *problems, promYML string, scrapeEntry []byte) {
	var cfg promConfig
	if err := decodeStrictYAML([]byte(promYML), &cfg); err != nil {
		p.add("prometheus_yml: %v", err)
		return
	}
	for _, sc := range cfg.ScrapeConfigs {
		checkPromScrape(p, sc)
	}
	if !slices.Contains(cfg.RuleFiles, AlertingRulesFile) {
		p.add("prometheus_yml: rule_files %v does not load %s (alerting_rules_yml)", cfg.RuleFiles, AlertingRulesFile)
	}
	var entry []map[string]any
	if err := yaml.Unmarshal(scrapeEntry, &entry); err != nil || len(entry) != 1 {
		p.add("scrape-topspeed.yaml: want a list of one scrape_configs entry (%v)", err)
		return
	}
	var generic struct {
		ScrapeConfigs []map[string]any `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(promYML), &generic); err != nil {
		p.add("prometheus_yml: %v", err)
		return
	}
	var names []string
	found := 0
	for _, sc := range generic.ScrapeConfigs {
		name, _ := sc["job_name"].(string)
		names = append(names, name)
		if name == entry[0]["job_name"] {
			found++
			if !reflect.DeepEqual(sc, entry[0]) {
				p.add("prometheus_yml: job %s differs from deploy/prometheus/scrape-topspeed.yaml", name)
			}
		}
	}
	if found != 1 {
		p.add("prometheus_yml: job %v appears %d times, want once", entry[0]["job_name"], found)
	}
	for _, j := range TanzuPrometheusDefaultJobs {
		if !slices.Contains(names, j) {
			p.add("prometheus_yml: the package's default job %s is missing: the values replace the whole configuration", j)
		}
	}
}

// checkPromScrape checks what Prometheus would refuse in a scrape job.
func checkPromScrape(p *problems, sc promScrape) {
	if sc.JobName == "" {
		p.add("prometheus_yml: a scrape job without job_name")
	}
	if sc.ScrapeTimeout > sc.ScrapeInterval && sc.ScrapeInterval != 0 {
		p.add("prometheus_yml: job %s: scrape_timeout above scrape_interval", sc.JobName)
	}
	if sc.Scheme != "" && sc.Scheme != "http" && sc.Scheme != "https" {
		p.add("prometheus_yml: job %s: scheme %q", sc.JobName, sc.Scheme)
	}
	for _, sd := range sc.KubernetesSD {
		if !slices.Contains([]string{"pod", "node", "service", "endpoints", "endpointslice", "ingress"}, sd.Role) {
			p.add("prometheus_yml: job %s: kubernetes_sd_configs role %q", sc.JobName, sd.Role)
		}
	}
	for _, r := range sc.Relabel {
		if _, err := regexp.Compile("^(?s:" + r.Regex + ")$"); err != nil {
			p.add("prometheus_yml: job %s: relabel regex %q: %v", sc.JobName, r.Regex, err)
		}
		if r.Action != "" && !slices.Contains([]string{"replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep", "hashmod", "keepequal", "dropequal", "lowercase", "uppercase"}, r.Action) {
			p.add("prometheus_yml: job %s: relabel action %q", sc.JobName, r.Action)
		}
	}
}
