package validate

import (
	"bufio"
	"os"
	"path"
	"regexp"
	"strings"
)

// DockerIgnore is a parsed .dockerignore.
type DockerIgnore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
	text   string
}

// ParseDockerIgnore reads a .dockerignore file. Patterns follow Docker's
// rules: relative to the context root, * and ? within a path element, **
// across elements, a leading ! re-includes, the last matching line wins,
// and excluding a directory excludes everything below it.
func ParseDockerIgnore(file string) (*DockerIgnore, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &DockerIgnore{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		r := ignoreRule{text: t}
		if strings.HasPrefix(t, "!") {
			r.negate = true
			t = strings.TrimSpace(t[1:])
		}
		t = path.Clean(strings.TrimPrefix(t, "/"))
		r.re = regexp.MustCompile("^" + globToRegexp(t) + "$")
		d.rules = append(d.rules, r)
	}
	return d, sc.Err()
}

func globToRegexp(g string) string {
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		switch c := g[i]; {
		case strings.HasPrefix(g[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(g[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// Excluded reports whether a slash-separated path relative to the context
// root is left out of the build context, and the deciding pattern.
func (d *DockerIgnore) Excluded(p string) (bool, string) {
	p = path.Clean(p)
	// The path or one of its parent directories.
	var cands []string
	for q := p; q != "." && q != "/"; q = path.Dir(q) {
		cands = append(cands, q)
	}
	excluded, by := false, ""
	for _, r := range d.rules {
		for _, c := range cands {
			if r.re.MatchString(c) {
				excluded, by = !r.negate, r.text
				break
			}
		}
	}
	return excluded, by
}
