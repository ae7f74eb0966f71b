package validate

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Instruction is one Dockerfile instruction.
type Instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, ...
	// Flags are the leading --name=value words (FROM --platform=...,
	// RUN --mount=..., COPY --from=...).
	Flags []string
	// Args is the rest: the JSON array's elements in exec form, else the
	// text after the flags (continuations joined by a space).
	Args     []string
	Raw      string
	ExecForm bool
}

// Stage is a FROM and the instructions up to the next FROM.
type Stage struct {
	From, Name string
	Body       []Instruction
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	// Global are the instructions before the first FROM (ARGs).
	Global []Instruction
	Stages []Stage
}

// ParseDockerfile reads a Dockerfile: comments, line continuations with
// a backslash, exec (JSON) and shell forms, stages. Heredocs are not
// supported (and not used).
func ParseDockerfile(file string) (*Dockerfile, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ins []Instruction
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(t, "#") {
			continue // comment inside a continuation
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(t)
		in, err := parseInstruction(start, cur.String())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, start, err)
		}
		ins = append(ins, in)
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("%s:%d: unterminated continuation", file, start)
	}
	d := &Dockerfile{}
	for _, in := range ins {
		if in.Cmd == "FROM" {
			st := Stage{}
			if len(in.Args) == 0 {
				return nil, fmt.Errorf("%s:%d: FROM without an image", file, in.Line)
			}
			st.From = in.Args[0]
			if len(in.Args) == 3 && strings.EqualFold(in.Args[1], "AS") {
				st.Name = in.Args[2]
			} else if len(in.Args) != 1 {
				return nil, fmt.Errorf("%s:%d: FROM image [AS name]", file, in.Line)
			}
			d.Stages = append(d.Stages, st)
			continue
		}
		if len(d.Stages) == 0 {
			if in.Cmd != "ARG" {
				return nil, fmt.Errorf("%s:%d: %s before the first FROM", file, in.Line, in.Cmd)
			}
			d.Global = append(d.Global, in)
			continue
		}
		last := &d.Stages[len(d.Stages)-1]
		last.Body = append(last.Body, in)
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", file)
	}
	return d, nil
}

func parseInstruction(line int, s string) (Instruction, error) {
	cmd, rest, _ := strings.Cut(s, " ")
	in := Instruction{Line: line, Cmd: strings.ToUpper(cmd), Raw: s}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		w, r, _ := strings.Cut(rest, " ")
		in.Flags = append(in.Flags, w)
		rest = strings.TrimSpace(r)
	}
	if strings.HasPrefix(rest, "[") {
		var arr []string
		if err := json.Unmarshal([]byte(rest), &arr); err == nil {
			in.Args, in.ExecForm = arr, true
			return in, nil
		}
	}
	switch in.Cmd {
	case "RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK":
		if rest != "" {
			in.Args = []string{rest}
		}
	default:
		in.Args = strings.Fields(rest)
	}
	return in, nil
}

// Final is the last stage: the image.
func (d *Dockerfile) Final() *Stage { return &d.Stages[len(d.Stages)-1] }

// Stage returns the stage named name, or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for i := range d.Stages {
		if d.Stages[i].Name == name {
			return &d.Stages[i]
		}
	}
	return nil
}

// Find returns the stage's instructions of cmd.
func (s *Stage) Find(cmd string) []Instruction {
	var out []Instruction
	for _, in := range s.Body {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// ArgDefaults returns the default values of the ARGs of the global scope
// and of stage s (name=value; an ARG without a value maps to "").
func (d *Dockerfile) ArgDefaults(s *Stage) map[string]string {
	out := map[string]string{}
	add := func(ins []Instruction) {
		for _, in := range ins {
			if in.Cmd != "ARG" {
				continue
			}
			for _, a := range in.Args {
				k, v, _ := strings.Cut(a, "=")
				out[k] = strings.Trim(v, `"`)
			}
		}
	}
	add(d.Global)
	if s != nil {
		add(s.Body)
	}
	return out
}

// ShellWords splits a shell command line into words, honouring single and
// double quotes and backslash escapes (no expansions, no operators other
// than && which becomes a word of its own).
func ShellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// Expand replaces $NAME and ${NAME} with vars (unknown names: empty).
func Expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

// StaticELF checks that file is a statically linked ELF executable: no
// program interpreter (PT_INTERP), no dynamic segment or section, no
// needed libraries.
func StaticELF(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: ELF type %v is not an executable", file, f.Type)
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return fmt.Errorf("%s: has a program interpreter (PT_INTERP): dynamically linked", file)
		case elf.PT_DYNAMIC:
			return fmt.Errorf("%s: has a dynamic segment (PT_DYNAMIC)", file)
		}
	}
	for _, name := range []string{".interp", ".dynamic", ".dynsym"} {
		if f.Section(name) != nil {
			return fmt.Errorf("%s: has section %s: dynamically linked", file, name)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("%s: needs shared libraries %v", file, libs)
	}
	return nil
}
