// Package objects reads Kubernetes objects for the helper commands.
package objects

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Read decodes every object in r. The input is either JSON (one value or a
// stream of values, starting with "{" or "[") or YAML (documents separated by
// "---"). A JSON array, or a document that holds an "items" array and whose
// kind is empty or ends in "List", is expanded into its elements. Empty
// documents are skipped. Numbers are decoded as the API machinery does:
// integers as int64 (what unstructured accessors such as metadata.generation
// expect), other numbers as float64.
func Read(r io.Reader) ([]map[string]interface{}, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	trimmed := bytes.TrimSpace(data)
	var docs []interface{}
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		docs, err = readJSON(trimmed)
	} else {
		docs, err = readYAML(data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode input: %w", err)
	}
	var out []map[string]interface{}
	for _, doc := range docs {
		objs, err := expand(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func readJSON(data []byte) ([]interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []interface{}
	for {
		var doc interface{}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if err := utiljson.ConvertInterfaceNumbers(&doc, 0); err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

func readYAML(data []byte) ([]interface{}, error) {
	reader := utilyaml.NewYAMLReader(bufioReader(data))
	var docs []interface{}
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := utilyaml.ToJSON(chunk)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		var doc interface{}
		if err := utiljson.Unmarshal(js, &doc); err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

func expand(doc interface{}) ([]map[string]interface{}, error) {
	switch v := doc.(type) {
	case nil:
		return nil, nil
	case []interface{}:
		return elements(v)
	case map[string]interface{}:
		items, hasItems := v["items"].([]interface{})
		kind, _ := v["kind"].(string)
		if hasItems && (kind == "" || strings.HasSuffix(kind, "List")) {
			return elements(items)
		}
		return []map[string]interface{}{v}, nil
	default:
		return nil, fmt.Errorf("input is a %T, not a Kubernetes object", doc)
	}
}

func elements(items []interface{}) ([]map[string]interface{}, error) {
	out := make([]map[string]interface{}, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("item %d is a %T, not an object", i, item)
		}
		out = append(out, m)
	}
	return out, nil
}

// Name returns metadata.name of obj, or "" when absent.
func Name(obj map[string]interface{}) string {
	md, _ := obj["metadata"].(map[string]interface{})
	name, _ := md["name"].(string)
	return name
}

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }
