// Command luahealth runs an Argo CD style resource health check written in Lua
// (Lua 5.1, gopher-lua) against Kubernetes objects.
//
// Usage: luahealth SCRIPT.lua < objects.json
//
// Each object read from standard input (JSON or YAML; one object, a JSON array
// or a list {"items": [...]}) is handed to the script as the global "obj":
// JSON objects become tables, arrays 1-based tables, null nil. The script ends
// in "return hs" where hs has "status" and "message". One JSON line is printed
// per object: {"name","status","message"}, or {"name","error"} if the script
// failed or returned no table. Every object runs in a fresh Lua state.
// Exit status: 0 when every script run returned a table, 1 if one did not,
// 2 on unreadable input or a script that does not compile.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"drs-operator/tools/controlplane/helpers/internal/objects"
)

const perObjectTimeout = 10 * time.Second

type line struct {
	Name    string `json:"name"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: luahealth SCRIPT.lua < objects.json")
		os.Exit(2)
	}
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "luahealth:", err)
		os.Exit(2)
	}
	proto, err := compile(os.Args[1], string(src))
	if err != nil {
		fmt.Fprintln(os.Stderr, "luahealth:", err)
		os.Exit(2)
	}
	objs, err := objects.Read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "luahealth:", err)
		os.Exit(2)
	}

	exit := 0
	enc := json.NewEncoder(os.Stdout)
	for _, obj := range objs {
		l := line{Name: objects.Name(obj)}
		hs, err := run(proto, obj)
		if err != nil {
			l.Error = err.Error()
			exit = 1
		} else {
			l.Status, l.Message = hs.status, hs.message
		}
		if err := enc.Encode(l); err != nil {
			fmt.Fprintln(os.Stderr, "luahealth:", err)
			os.Exit(2)
		}
	}
	os.Exit(exit)
}

type health struct{ status, message string }

// compile parses the script once; every object then runs it in its own state.
func compile(name, src string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	return lua.Compile(chunk, name)
}

func run(proto *lua.FunctionProto, obj map[string]interface{}) (health, error) {
	L := newState()
	defer L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), perObjectTimeout)
	defer cancel()
	L.SetContext(ctx)

	L.SetGlobal("obj", toLua(L, obj))
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 1, nil); err != nil {
		return health{}, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("script returned %s, not a table", ret.Type())
	}
	return health{status: luaString(tbl.RawGetString("status")), message: luaString(tbl.RawGetString("message"))}, nil
}

// newState opens the libraries a health script may use; "os" keeps only its
// clock and date functions.
func newState() *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	if osTable, ok := L.GetGlobal(lua.OsLibName).(*lua.LTable); ok {
		safe := L.NewTable()
		for _, fn := range []string{"clock", "date", "difftime", "time"} {
			safe.RawSetString(fn, osTable.RawGetString(fn))
		}
		L.SetGlobal(lua.OsLibName, safe)
	}
	for _, fn := range []string{"dofile", "loadfile"} {
		L.SetGlobal(fn, lua.LNil)
	}
	return L
}

// toLua converts a decoded JSON value: objects to tables, arrays to 1-based
// tables, null to nil.
func toLua(L *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return lua.LString(x.String())
		}
		return lua.LNumber(f)
	case map[string]interface{}:
		t := L.NewTable()
		for k, e := range x {
			if e != nil {
				t.RawSetString(k, toLua(L, e))
			}
		}
		return t
	case []interface{}:
		t := L.NewTable()
		for i, e := range x {
			t.RawSetInt(i+1, toLua(L, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(x))
	}
}

func luaString(v lua.LValue) string {
	if v == lua.LNil {
		return ""
	}
	return v.String()
}
