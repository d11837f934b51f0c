package query

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Filter is a parsed filter expression. The zero of *Filter (nil) matches every flow.
type Filter struct {
	text string
	root node
}

// ParseError is a filter that does not parse: Pos is the byte offset (0-based) where the problem
// is, Column the same counted from 1, for people.
type ParseError struct {
	Pos      int
	Column   int
	Msg      string
	Expected string // what the parser expected there, when that is the problem
	Found    string // the text it found instead ("end of filter" at the end)
}

func (e *ParseError) Error() string {
	if e.Expected != "" {
		return fmt.Sprintf("filter: column %d: expected %s, found %s", e.Column, e.Expected, e.Found)
	}
	return fmt.Sprintf("filter: column %d: %s", e.Column, e.Msg)
}

type nodeKind uint8

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nCmp
)

type node struct {
	kind  nodeKind
	kids  []node // nAnd, nOr: two or more; nNot: one
	field *Field
	op    string  // "=", "!=", "<", "<=", ">", ">=", "in", "not in"
	vals  []value // one for comparisons; one or more for in
}

// value is a number or an address range; an address is a one-address range.
type value struct {
	num                uint64
	isRange            bool // an address or a prefix
	fhi, flo, lhi, llo uint64
	single             bool // the range is one address
	text               string
}

// ParseFilter parses a filter. An empty (or blank) text gives nil, which matches every flow.
func ParseFilter(text string) (*Filter, error) {
	p := &parser{src: text}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if len(p.toks) == 1 { // only the end token
		return nil, nil
	}
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.expected(t, `"and", "or" or the end of the filter`)
	}
	return &Filter{text: text, root: root}, nil
}

// String is the filter as the user wrote it.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// Fields lists the names of the fields the filter reads, without duplicates.
func (f *Filter) Fields() []string {
	if f == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind == nCmp {
			if !seen[n.field.Name] {
				seen[n.field.Name] = true
				out = append(out, n.field.Name)
			}
			return
		}
		for i := range n.kids {
			walk(&n.kids[i])
		}
	}
	walk(&f.root)
	return out
}

// RollupExact reports whether the roll-up tiers answer the filter exactly: every field it reads is
// kept there, and a bucketed field (ports) is only tested for equality with well-known values.
func (f *Filter) RollupExact() bool {
	if f == nil {
		return true
	}
	ok := true
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind != nCmp {
			for i := range n.kids {
				walk(&n.kids[i])
			}
			return
		}
		if !n.field.Rollup {
			ok = false
			return
		}
		if n.field.Bucketed {
			switch n.op {
			case "=", "!=", "in", "not in":
				for _, v := range n.vals {
					if !WellKnownPort(v.num) {
						ok = false
					}
				}
			default:
				ok = false
			}
		}
	}
	walk(&f.root)
	return ok
}

// SQL compiles the filter to an SQL condition over the store's columns, with every value as a
// "?" parameter, in order, in args. A nil filter gives "TRUE".
func (f *Filter) SQL() (cond string, args []any) {
	if f == nil {
		return "TRUE", nil
	}
	var b strings.Builder
	writeSQL(&b, &f.root, &args)
	return b.String(), args
}

func writeSQL(b *strings.Builder, n *node, args *[]any) {
	switch n.kind {
	case nAnd, nOr:
		sep := " AND "
		if n.kind == nOr {
			sep = " OR "
		}
		b.WriteByte('(')
		for i := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			writeSQL(b, &n.kids[i], args)
		}
		b.WriteByte(')')
	case nNot:
		b.WriteString("(NOT ")
		writeSQL(b, &n.kids[0], args)
		b.WriteByte(')')
	case nCmp:
		writeCmp(b, n, args)
	}
}

func writeCmp(b *strings.Builder, n *node, args *[]any) {
	col := n.field.Name
	arg := func(v value) any {
		if n.field.IsText() {
			return v.text
		}
		return v.num
	}
	if n.field.Kind != KindAddr {
		switch n.op {
		case "in", "not in":
			if n.op == "not in" {
				b.WriteString("NOT ")
			}
			b.WriteString(col + " IN (")
			for i, v := range n.vals {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('?')
				*args = append(*args, arg(v))
			}
			b.WriteByte(')')
		default:
			b.WriteString(col + " " + n.op + " ?")
			*args = append(*args, arg(n.vals[0]))
		}
		return
	}
	hi, lo := col+"_hi", col+"_lo"
	switch n.op {
	case "in", "not in", "=", "!=":
		if n.op == "not in" || n.op == "!=" {
			b.WriteString("NOT ")
		}
		b.WriteByte('(')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteString(" OR ")
			}
			switch {
			case v.single:
				fmt.Fprintf(b, "(%s = ? AND %s = ?)", hi, lo)
				*args = append(*args, v.fhi, v.flo)
			case v.fhi != v.lhi:
				fmt.Fprintf(b, "(%s BETWEEN ? AND ?)", hi)
				*args = append(*args, v.fhi, v.lhi)
			default:
				fmt.Fprintf(b, "(%s = ? AND %s BETWEEN ? AND ?)", hi, lo)
				*args = append(*args, v.fhi, v.flo, v.llo)
			}
		}
		b.WriteByte(')')
	default: // an ordering of addresses: compare (hi, lo) lexicographically
		v := n.vals[0]
		strict := n.op[:1]
		fmt.Fprintf(b, "(%s %s ? OR (%s = ? AND %s %s ?))", hi, strict, hi, lo, n.op)
		*args = append(*args, v.fhi, v.fhi, v.flo)
	}
}

// ---- lexer ----

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tOp
	tLParen
	tRParen
	tComma
	tString // a double-quoted string, its text unquoted
)

type token struct {
	kind tokKind
	text string
	pos  int
}

type parser struct {
	src  string
	toks []token
	i    int
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '/' || c == '-'
}

func (p *parser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			p.toks = append(p.toks, token{tLParen, "(", i})
			i++
		case c == ')':
			p.toks = append(p.toks, token{tRParen, ")", i})
			i++
		case c == ',':
			p.toks = append(p.toks, token{tComma, ",", i})
			i++
		case c == '=':
			n := 1
			if i+1 < len(s) && s[i+1] == '=' {
				n = 2
			}
			p.toks = append(p.toks, token{tOp, "=", i})
			i += n
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				p.toks = append(p.toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			if c == '!' {
				return &ParseError{Pos: i, Column: i + 1, Expected: `"!="`, Found: quoteTok(s[i : i+1])}
			}
			if c == '<' && i+1 < len(s) && s[i+1] == '>' {
				p.toks = append(p.toks, token{tOp, "!=", i})
				i += 2
				continue
			}
			p.toks = append(p.toks, token{tOp, s[i : i+1], i})
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				j++
			}
			if j == len(s) {
				return &ParseError{Pos: i, Column: i + 1, Msg: "unterminated string"}
			}
			p.toks = append(p.toks, token{tString, s[i+1 : j], i})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			p.toks = append(p.toks, token{tWord, s[i:j], i})
			i = j
		default:
			r := s[i:]
			if len(r) > 1 && c >= 0x80 {
				for k := 1; k < len(r) && k < 4; k++ { // show the whole UTF-8 character
					if r[k]&0xC0 != 0x80 {
						r = r[:k]
						break
					}
				}
			} else {
				r = r[:1]
			}
			return &ParseError{Pos: i, Column: i + 1, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
	}
	p.toks = append(p.toks, token{tEOF, "", len(s)})
	return nil
}

func quoteTok(s string) string { return strconv.Quote(s) }

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) expected(t token, what string) *ParseError {
	found := "the end of the filter"
	switch t.kind {
	case tString:
		found = "the string " + quoteTok(t.text)
	case tEOF:
	default:
		found = quoteTok(t.text)
	}
	return &ParseError{Pos: t.pos, Column: t.pos + 1, Expected: what, Found: found}
}

func isKeyword(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 100

// ---- parser ----

func (p *parser) expr(depth int) (node, error) {
	if depth > maxDepth {
		t := p.peek()
		return node{}, &ParseError{Pos: t.pos, Column: t.pos + 1, Msg: "filter nested too deeply"}
	}
	left, err := p.term(depth)
	if err != nil {
		return node{}, err
	}
	if !isKeyword(p.peek(), "or") {
		return left, nil
	}
	n := node{kind: nOr, kids: []node{left}}
	for isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.term(depth)
		if err != nil {
			return node{}, err
		}
		n.kids = append(n.kids, right)
	}
	return n, nil
}

func (p *parser) term(depth int) (node, error) {
	left, err := p.factor(depth)
	if err != nil {
		return node{}, err
	}
	if !isKeyword(p.peek(), "and") {
		return left, nil
	}
	n := node{kind: nAnd, kids: []node{left}}
	for isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.factor(depth)
		if err != nil {
			return node{}, err
		}
		n.kids = append(n.kids, right)
	}
	return n, nil
}

func (p *parser) factor(depth int) (node, error) {
	if depth > maxDepth {
		t := p.peek()
		return node{}, &ParseError{Pos: t.pos, Column: t.pos + 1, Msg: "filter nested too deeply"}
	}
	t := p.peek()
	switch {
	case isKeyword(t, "not"):
		p.next()
		k, err := p.factor(depth + 1)
		if err != nil {
			return node{}, err
		}
		return node{kind: nNot, kids: []node{k}}, nil
	case t.kind == tLParen:
		p.next()
		n, err := p.expr(depth + 1)
		if err != nil {
			return node{}, err
		}
		if c := p.next(); c.kind != tRParen {
			return node{}, p.expected(c, `")"`)
		}
		return n, nil
	case t.kind == tWord:
		return p.cond()
	}
	return node{}, p.expected(t, `a field name, "not" or "("`)
}

func (p *parser) cond() (node, error) {
	ft := p.next()
	f, ok := fieldByName[strings.ToLower(ft.text)]
	if !ok {
		return node{}, &ParseError{Pos: ft.pos, Column: ft.pos + 1,
			Msg: fmt.Sprintf("unknown field %q; known fields: %s", ft.text, strings.Join(FieldNames(), ", "))}
	}
	n := node{kind: nCmp, field: f}
	t := p.next()
	switch {
	case t.kind == tOp:
		n.op = t.text
	case isKeyword(t, "in"):
		n.op = "in"
	case isKeyword(t, "not"):
		if in := p.next(); !isKeyword(in, "in") {
			return node{}, p.expected(in, `"in"`)
		}
		n.op = "not in"
	default:
		return node{}, p.expected(t, `an operator (=, !=, <, <=, >, >=, in, not in)`)
	}
	if n.op == "in" || n.op == "not in" {
		if p.peek().kind != tLParen {
			if f.Kind != KindAddr {
				return node{}, p.expected(p.peek(), `"(" and a list of values`)
			}
			v, err := p.value(f, true)
			if err != nil {
				return node{}, err
			}
			n.vals = []value{v}
			return n, nil
		}
		p.next()
		for {
			v, err := p.value(f, true)
			if err != nil {
				return node{}, err
			}
			n.vals = append(n.vals, v)
			sep := p.next()
			if sep.kind == tRParen {
				break
			}
			if sep.kind != tComma {
				return node{}, p.expected(sep, `"," or ")"`)
			}
		}
		return n, nil
	}
	v, err := p.value(f, false)
	if err != nil {
		return node{}, err
	}
	if f.IsText() && n.op != "=" && n.op != "!=" {
		return node{}, &ParseError{Pos: p.toks[p.i-1].pos, Column: p.toks[p.i-1].pos + 1,
			Msg: fmt.Sprintf("%s cannot be compared with %s; use =, !=, in or not in", f.Name, n.op)}
	}
	if v.isRange && !v.single && n.op != "=" && n.op != "!=" {
		return node{}, &ParseError{Pos: p.toks[p.i-1].pos, Column: p.toks[p.i-1].pos + 1,
			Msg: fmt.Sprintf("a prefix cannot be compared with %s; use in", n.op)}
	}
	n.vals = []value{v}
	return n, nil
}

// value reads one value for field f. Prefixes are accepted for address fields.
func (p *parser) value(f *Field, inList bool) (value, error) {
	t := p.next()
	if t.kind != tWord && !(t.kind == tString && f.IsText()) {
		return value{}, p.expected(t, valueWant(f))
	}
	bad := func() (value, error) { return value{}, p.expected(t, valueWant(f)) }
	switch f.Kind {
	case KindString:
		return value{text: t.text}, nil
	case KindCountry:
		c := strings.ToUpper(t.text)
		if c != "" && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
			return bad()
		}
		return value{text: c}, nil
	case KindAddr:
		if strings.Contains(t.text, "/") {
			pfx, err := netip.ParsePrefix(t.text)
			if err != nil {
				return bad()
			}
			v := value{isRange: true, text: t.text}
			v.fhi, v.flo, v.lhi, v.llo = prefixRange(pfx)
			v.single = v.fhi == v.lhi && v.flo == v.llo
			return v, nil
		}
		a, err := netip.ParseAddr(t.text)
		if err != nil || a.Zone() != "" {
			return bad()
		}
		hi, lo := EncodeAddr(a.Unmap())
		return value{isRange: true, single: true, fhi: hi, flo: lo, lhi: hi, llo: lo, text: t.text}, nil
	case KindProto:
		if n, ok := protoNames[strings.ToLower(t.text)]; ok {
			return value{num: n, text: t.text}, nil
		}
	case KindDir:
		if n, ok := dirNames[strings.ToLower(t.text)]; ok {
			return value{num: n, text: t.text}, nil
		}
	}
	s := t.text
	if (f.Name == "src_as" || f.Name == "dst_as") && len(s) > 2 && strings.EqualFold(s[:2], "as") {
		s = s[2:]
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil || n > f.Max {
		return bad()
	}
	_ = inList
	return value{num: n, text: t.text}, nil
}

func valueWant(f *Field) string {
	switch f.Kind {
	case KindAddr:
		return "an address or a prefix for " + f.Name
	case KindProto:
		return "a protocol number (0-255) or name (tcp, udp, icmp, ...) for proto"
	case KindDir:
		return "unknown, ingress or egress for direction"
	case KindString:
		return "a name (a word, or a string in double quotes) for " + f.Name
	case KindCountry:
		return `a two-letter country code (JP, US, ...) or "" for ` + f.Name
	}
	return fmt.Sprintf("a number from 0 to %d for %s", f.Max, f.Name)
}
