package domain_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// wordsOf reads the string constants this package declares, by type:
// the statuses, roles and audit actions as they are spelled.
func wordsOf(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	words := map[string]string{} // spelling → the constant's type
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				typ, ok := vs.Type.(*ast.Ident)
				if !ok {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
							words[s] = typ.Name
						}
					}
				}
			}
		}
	}
	return words
}

// spelledElsewhere are literals that look like a domain word but are
// something else, with the reason.
var spelledElsewhere = map[string]string{
	"internal/submission/answer.go:rueckfrage": "the field id of the files sent with an answer, not a status",
	"forms/schema.go:medical":                  "the form definitions' own word (forms depends on nothing of ours); TestMedicalIsTheFormsWord keeps it equal",
	"portal/limits.go:login":                   "the name of the per-address limit of login attempts, keyed into its counter, not an audit action",
}

// TestDomainWordsAreNotSpelledOutside scans the Go code of the repository
// (tests aside, which check the outside forms: JSON, URLs, the audit log)
// for a string literal that spells a status, role or audit action, or
// builds an actor, object or action family by hand. Each is a word that
// must come from this package, so that it is spelled once.
func TestDomainWordsAreNotSpelledOutside(t *testing.T) {
	words := wordsOf(t)
	for _, must := range []string{"eingegangen", "physician", "case.read"} {
		if words[must] == "" {
			t.Fatalf("the scan of this package missed %q: %v", must, words)
		}
	}
	prefixes := []string{"staff:", "token:", "submission:", "attachment:", "service:", "backup:", "video:", "appointment:",
		"case.status.", "mail.refused.", "office.notify.", "retention.period."}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "internal/domain" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules" || d.Name() == "var" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		scanned++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if _, ok := spelledElsewhere[rel+":"+s]; ok {
				return true
			}
			if typ := words[s]; typ != "" {
				t.Errorf("%s: %q spells a domain.%s: use the constant", fset.Position(lit.Pos()), s, typ)
			}
			for _, p := range prefixes {
				if s == p {
					t.Errorf("%s: %q builds an actor, object or action by hand: use the domain package", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 100 {
		t.Fatalf("scanned only %d files under %s", scanned, root)
	}
}
