#!/usr/bin/env python3
"""trace_query.py - ask questions of `gg trace dump --json` output (for e2e scripts).

    trace_query.py DUMP has       COND...   an event matches (exit 0) or not (exit 1)
    trace_query.py DUMP hasnot    COND...   no event matches
    trace_query.py DUMP count     COND...   print the number of matching events
    trace_query.py DUMP hasproc   COND...   a process image matches
    trace_query.py DUMP countproc COND...   print the number of matching images
    trace_query.py DUMP get KEY   COND...   print KEY of each matching image
    trace_query.py DUMP getev KEY COND...   print KEY of each matching event
    trace_query.py DUMP warnings            print the warnings; exit 1 if there are any
    trace_query.py DUMP show                a compact listing, for diagnostics
    trace_query.py DUMP batch               read "VERB COND..." lines (has, hasnot,
                                            hasproc, count=N) from stdin; print each
                                            that fails with why; exit 1 if any did

DUMP is a file holding one JSON object per line (one per process image), or "-".

A condition is KEY OP VALUE.  For `has`/`count`, KEY names a field of the event, or
of its process image when prefixed with "proc." (proc.pid, proc.origin,
proc.argv.1, proc.exit.signal); for the *proc verbs every KEY is a field of the
image, "proc." optional.  Dots index into objects and lists (actions.0.op,
argv.-1); a KEY ending in "#" is the length of the list or string.
  =  equal        !=  not equal      >= <= > <   numeric comparison
  $= ends with    ^=  starts with    ~=  matches the regular expression (search)
  *= a list holds an element equal to VALUE (a JSON object VALUE: a superset of it)
  *$= *^= *~=     a list holds a string element ending with / starting with /
                  matching VALUE
  !*= a list holds no element equal to VALUE
VALUE is read as JSON when it parses as JSON (numbers, true, null, [..], {..},
"quoted strings", where \\u00e9 stands for a byte recorded as \\u00XX), else as a
string; against a string field the raw text is compared.  A KEY that is missing
never matches (except with !=, !*=).
"""

import io
import json
import re
import sys

OPS = ["*$=", "*^=", "*~=", "!*=", "*=", "!=", "$=", "^=", "~=", ">=", "<=", "=", ">", "<"]
KEY_RE = re.compile(r"[A-Za-z0-9_.#-]+")
MISSING = object()


class Cond:
    def __init__(self, text):
        m = KEY_RE.match(text)
        if not m:
            raise ValueError("bad condition '%s'" % text)
        key = m.group(0)
        # a key may not swallow the first character of an operator
        rest = text[len(key):]
        for op in OPS:
            if rest.startswith(op):
                break
        else:
            raise ValueError("bad condition '%s': no operator after '%s'" % (text, key))
        self.text = text
        self.op = op
        self.raw = rest[len(op):]
        self.length = key.endswith("#")
        if self.length:
            key = key[:-1]
        self.proc = key.startswith("proc.")
        self.path = key[5:].split(".") if self.proc else key.split(".")
        try:
            self.value = json.loads(self.raw)
        except ValueError:
            self.value = self.raw
        # a string field is compared with the raw text unless the value was quoted
        self.text_value = self.value if isinstance(self.value, str) else self.raw

    def lookup(self, obj):
        for part in self.path:
            if isinstance(obj, dict):
                if part not in obj:
                    return MISSING
                obj = obj[part]
            elif isinstance(obj, list):
                try:
                    obj = obj[int(part)]
                except (ValueError, IndexError):
                    return MISSING
            else:
                return MISSING
        if self.length:
            if isinstance(obj, (list, str)):
                return len(obj)
            return MISSING
        return obj

    def test(self, obj):
        v = self.lookup(obj)
        op = self.op
        if v is MISSING:
            return op in ("!=", "!*=")
        if op == "=":
            return equal(v, self.value, self.text_value)
        if op == "!=":
            return not equal(v, self.value, self.text_value)
        if op in (">=", "<=", ">", "<"):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                return False
            try:
                x = float(self.raw)
            except ValueError:
                return False
            return {">=": v >= x, "<=": v <= x, ">": v > x, "<": v < x}[op]
        if op == "$=":
            return isinstance(v, str) and v.endswith(self.text_value)
        if op == "^=":
            return isinstance(v, str) and v.startswith(self.text_value)
        if op == "~=":
            return isinstance(v, str) and re.search(self.text_value, v) is not None
        if not isinstance(v, list):
            return False
        if op == "*=":
            return any(contains(e, self.value, self.text_value) for e in v)
        if op == "!*=":
            return not any(contains(e, self.value, self.text_value) for e in v)
        if op == "*$=":
            return any(isinstance(e, str) and e.endswith(self.text_value) for e in v)
        if op == "*^=":
            return any(isinstance(e, str) and e.startswith(self.text_value) for e in v)
        if op == "*~=":
            return any(isinstance(e, str) and re.search(self.text_value, e) for e in v)
        return False


def equal(v, value, text):
    if isinstance(v, str):
        return v == text
    if isinstance(v, bool) or isinstance(value, bool):
        return v is value
    return v == value


def contains(e, value, text):
    if isinstance(value, dict):
        return isinstance(e, dict) and all(k in e and e[k] == x for k, x in value.items())
    return equal(e, value, text)


def load(path):
    procs = []
    f = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="surrogateescape")
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                procs.append(json.loads(line))
            except ValueError as e:
                raise SystemExit("%s:%d: not JSON: %s" % (path, n, e))
    return procs


def short(ev):
    s = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= 400 else s[:400] + "..."


def proc_label(p):
    argv = p.get("argv") or []
    return "pid %s %s %s argv=%s exit=%s" % (
        p.get("pid"), p.get("origin"), p.get("log"),
        json.dumps(argv[:6], ensure_ascii=False), json.dumps(p.get("exit")))


def match_events(procs, conds):
    pconds = [c for c in conds if c.proc]
    econds = [c for c in conds if not c.proc]
    for p in procs:
        if not all(c.test(p) for c in pconds):
            continue
        for ev in p.get("events") or []:
            if all(c.test(ev) for c in econds):
                yield p, ev


def match_procs(procs, conds):
    for p in procs:
        if all(c.test(p) for c in conds):
            yield p


def near_misses(procs, conds, out):
    """On failure: the events of the same op (or fn), to show what was recorded."""
    op = next((c.raw for c in conds if not c.proc and c.path == ["op"] and c.op == "="), None)
    fn = next((c.raw for c in conds if not c.proc and c.path == ["fn"] and c.op == "="), None)
    shown = 0
    for p in procs:
        for ev in p.get("events") or []:
            if (op is None or ev.get("op") == op) and (fn is None or ev.get("fn") == fn):
                if shown < 12:
                    out.write("  in %s: %s\n" % (proc_label(p), short(ev)))
                shown += 1
    if shown > 12:
        out.write("  ... %d more\n" % (shown - 12))
    if shown == 0:
        out.write("  no event with%s%s; images:\n" % (" op=" + op if op else "", " fn=" + fn if fn else ""))
        for p in procs[:12]:
            out.write("  %s: %d events\n" % (proc_label(p), len(p.get("events") or [])))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    procs = load(argv[1])
    if argv[2] == "batch":
        return batch(procs, sys.stdin, sys.stdout)
    return run_query(procs, argv[2], argv[3:], sys.stdout)


def batch(procs, inp, out):
    """One query a line ("VERB COND..." or "count=N COND..."); report the failures."""
    failed = 0
    for line in inp:
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        buf = io.StringIO()
        if words[0].startswith("count="):
            rc = run_query(procs, "count", words[1:], buf)
            got = buf.getvalue().strip()
            if rc == 0 and got != words[0][6:]:
                buf = io.StringIO("%s events\n" % got)
                rc = 1
        else:
            rc = run_query(procs, words[0], words[1:], buf)
        if rc != 0:
            failed = 1
            out.write("expected: %s\n" % " ".join(words))
            for n, text in enumerate(buf.getvalue().splitlines()):
                if n < 14:
                    out.write("  %s\n" % text)
    return failed


def run_query(procs, verb, args, out):
    """Answer one question on OUT; 0 when it holds, 1 when not, 2 on a bad query."""
    what = " ".join(args)
    if verb == "warnings":
        bad = 0
        for p in procs:
            for w in p.get("warnings") or []:
                out.write("%s: %s\n" % (p.get("log"), w))
                bad = 1
        return bad
    if verb == "show":
        for p in procs:
            out.write(proc_label(p) + "\n")
            for ev in p.get("events") or []:
                out.write("    " + short(ev) + "\n")
        return 0
    key = None
    if verb in ("get", "getev"):
        if not args:
            out.write("get: a KEY is needed\n")
            return 2
        key, args = args[0], args[1:]
    try:
        conds = [Cond(a) for a in args]
        getter = Cond(key + "=x") if key else None
    except ValueError as e:
        out.write("trace_query: %s\n" % e)
        return 2
    if verb in ("hasproc", "countproc"):
        for c in conds:
            c.proc = True
        found = list(match_procs(procs, conds))
        if verb == "countproc":
            out.write("%d\n" % len(found))
            return 0
        if found:
            return 0
        out.write("no image with %s; images:\n" % what)
        for p in procs[:20]:
            out.write("  %s\n" % proc_label(p))
        return 1
    if verb in ("get", "getev"):
        if verb == "getev":
            rows = [ev for _, ev in match_events(procs, conds)]
        else:
            for c in conds:
                c.proc = True
            rows = list(match_procs(procs, conds))
        for r in rows:
            v = getter.lookup(r)
            if v is MISSING:
                continue
            out.write((v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) + "\n")
        return 0
    found = list(match_events(procs, conds))
    if verb == "count":
        out.write("%d\n" % len(found))
        return 0
    if verb == "has":
        if found:
            return 0
        out.write("no event with %s; recorded:\n" % what)
        near_misses(procs, conds, out)
        return 1
    if verb == "hasnot":
        if not found:
            return 0
        out.write("unexpected event with %s:\n" % what)
        for p, ev in found[:10]:
            out.write("  in %s: %s\n" % (proc_label(p), short(ev)))
        return 1
    out.write("trace_query: unknown verb '%s'\n" % verb)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
