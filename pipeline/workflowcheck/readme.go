package workflowcheck

import (
	"fmt"
	"strings"
)

// Block is one workflow written out in a Markdown document: its text and the line (1-based) of the
// document where it starts.
type Block struct {
	Line int
	Text string
}

// PlaceholderSHA stands in the README for the commit of the shipgate release an adopter pins
// (`uses: shipgate/shipgate/.github/workflows/shipgate-publish.yml@<sha> # v1.0.0`): copied as is,
// GitHub refuses it loudly. MarkdownWorkflows checks it as if it were a full commit SHA.
const PlaceholderSHA = "<sha>"

// MarkdownWorkflows returns every ```yaml (or ```yml) block of doc that is a workflow (has a
// top-level `jobs:`), so the examples users copy are linted like the workflows themselves. Each
// PlaceholderSHA in them is replaced by a 40-hex commit.
func MarkdownWorkflows(doc []byte) []Block {
	var out []Block
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		fence := strings.TrimSpace(lines[i])
		if fence != "```yaml" && fence != "```yml" {
			continue
		}
		start := i + 1
		j := start
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		text := strings.Join(lines[start:j], "\n") + "\n"
		text = strings.ReplaceAll(text, PlaceholderSHA, strings.Repeat("0", 40))
		if strings.HasPrefix(text, "jobs:") || strings.Contains(text, "\njobs:") {
			out = append(out, Block{Line: start + 1, Text: text})
		}
		i = j
	}
	return out
}

// Markdown checks every workflow block of doc (see MarkdownWorkflows); findings name the document
// and its line. A document whose name is given but holds no workflow is fine.
func Markdown(name string, doc []byte) ([]Finding, error) {
	var all []Finding
	for _, b := range MarkdownWorkflows(doc) {
		fs, err := File(fmt.Sprintf("%s (block at line %d)", name, b.Line), []byte(b.Text))
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			f.File = name
			f.Line += b.Line - 1
			all = append(all, f)
		}
	}
	return all, nil
}
