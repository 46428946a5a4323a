// Command kstatus prints the kstatus result (the status Flux waits on:
// Current, InProgress, Failed, Terminating, Unknown, ...) of Kubernetes objects.
//
// Usage: kstatus [-text] [FILE...]   (reads standard input without FILE)
//
// The input is JSON or YAML: one object, several documents, a JSON array or a
// list ({"items": [...]}). For each object one line is printed, by default a
// JSON object {"kind","namespace","name","status","message"} (plus "error"
// when kstatus could not compute a status), or with -text "<name> <status>
// <message>". Exit status: 0 when every input was read, 2 on unreadable input.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"drs-operator/tools/controlplane/helpers/internal/objects"
)

type line struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Error     string `json:"error,omitempty"`
}

func main() {
	text := flag.Bool("text", false, `print "<name> <status> <message>" instead of JSON lines`)
	flag.Parse()

	var inputs []io.Reader
	if flag.NArg() == 0 {
		inputs = append(inputs, os.Stdin)
	}
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		defer f.Close()
		inputs = append(inputs, f)
	}

	enc := json.NewEncoder(os.Stdout)
	for _, in := range inputs {
		objs, err := objects.Read(in)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		for _, obj := range objs {
			u := &unstructured.Unstructured{Object: obj}
			l := line{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Status: string(status.UnknownStatus)}
			res, err := status.Compute(u)
			if res != nil {
				l.Status, l.Message = string(res.Status), res.Message
			}
			if err != nil {
				l.Error = err.Error()
			}
			if *text {
				fmt.Printf("%s %s %s\n", l.Name, l.Status, l.Message)
				continue
			}
			if err := enc.Encode(l); err != nil {
				fmt.Fprintln(os.Stderr, "kstatus:", err)
				os.Exit(2)
			}
		}
	}
}
