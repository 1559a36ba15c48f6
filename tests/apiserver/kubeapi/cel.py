"""A subset of CEL, enough for typical x-kubernetes-validations rules.

Supported: literals (int, double, string, bool, null, lists, maps), `self` and
`oldSelf`, field selection and indexing, `has()`, the operators
! - * / % + < <= > >= == != in && || ?:, the macros all/exists/exists_one/
map/filter, the functions size, startsWith, endsWith, contains, matches,
lowerAscii, upperAscii, trim, split, join, indexOf, lastIndexOf, substring,
replace, int, uint, double, string, bool, duration (Go syntax, compared as
durations), and the Kubernetes URL library (isURL, url(...).getScheme/getHost/getHostname/
getPort/getEscapedPath/getQuery). Not supported: optionals, timestamps,
duration arithmetic, quantities, IP/CIDR libraries, type checking (cost limits are not
enforced). An unsupported construct raises CelError, which fails the rule.
"""
import datetime
import functools
import re
import urllib.parse


class CelError(Exception):
    pass


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+u?|\d+u?)
  | (?P<str>[rR]?(?:'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
)""", re.VERBOSE)

_BINARY = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "in": 3,
           "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}
MACROS = {"all", "exists", "exists_one", "map", "filter"}


def _tokenize(text):
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise CelError(f"Syntax error at {pos}: {text[pos:pos + 10]!r}")
        pos = match.end()
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
    tokens.append(("end", ""))
    return tokens


def _string_literal(text):
    raw = text[0] in "rR"
    body = text[2:-1] if raw else text[1:-1]
    return body if raw else body.encode("latin-1", "backslashreplace").decode("unicode_escape")


class _Parser:
    def __init__(self, text):
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos]

    def take(self, value=None):
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise CelError(f"expected {value!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise CelError(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self):
        cond = self.binary(1)
        if self.peek()[1] == "?":
            self.take("?")
            yes = self.expr()
            self.take(":")
            return ("cond", cond, yes, self.expr())
        return cond

    def binary(self, level):
        left = self.unary()
        while True:
            op = self.peek()[1]
            prec = _BINARY.get(op)
            if prec is None or prec < level or self.peek()[0] == "str":
                return left
            self.take()
            left = ("binop", op, left, self.binary(prec + 1))

    def unary(self):
        op = self.peek()[1]
        if op in ("!", "-") and self.peek()[0] == "op":
            self.take()
            return ("unop", op, self.unary())
        return self.postfix(self.primary())

    def args(self, closing):
        items = []
        while self.peek()[1] != closing:
            items.append(self.expr())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(closing)
        return items

    def postfix(self, node):
        while self.peek()[1] in (".", "["):
            if self.take()[1] == "[":
                node = ("index", node, self.expr())
                self.take("]")
                continue
            name = self.take()[1]
            if self.peek()[1] == "(":
                self.take("(")
                node = ("method", node, name, self.args(")"))
            else:
                node = ("field", node, name)
        return node

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", _number(value))
        if kind == "str":
            return ("lit", _string_literal(value))
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if value == "[":
            return ("list", self.args("]"))
        if value == "{":
            return self._map()
        if kind == "id":
            literals = {"true": True, "false": False, "null": None}
            if value in literals:
                return ("lit", literals[value])
            if self.peek()[1] == "(":
                self.take("(")
                return ("call", value, self.args(")"))
            return ("ident", value)
        raise CelError(f"unexpected {value!r}")

    def _map(self):
        entries = []
        while self.peek()[1] != "}":
            key = self.expr()
            self.take(":")
            entries.append((key, self.expr()))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return ("map", entries)


def _number(text):
    if "." in text or "e" in text.lower() and not text.startswith("0x"):
        return float(text)
    return int(text.rstrip("u"), 0)


class _Url:
    def __init__(self, text):
        self.parts = urllib.parse.urlsplit(text)


def _is_url(text):
    try:
        parts = urllib.parse.urlsplit(text)
        return bool(parts.scheme) and (bool(parts.netloc) or text.startswith("/")) or \
            text.startswith("/")
    except ValueError:
        return False


_URL_METHODS = {
    "getScheme": lambda u: u.parts.scheme,
    "getHost": lambda u: u.parts.netloc.rsplit("@", 1)[-1],
    "getHostname": lambda u: u.parts.hostname or "",
    "getPort": lambda u: str(u.parts.port) if u.parts.port else "",
    "getEscapedPath": lambda u: u.parts.path,
    "getQuery": lambda u: dict(urllib.parse.parse_qs(u.parts.query)),
}

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
                   "h": 3600}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")


def _duration(text):
    """CEL's duration(string): Go's time.ParseDuration syntax."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return datetime.timedelta(0)
    pos, seconds = 0, 0.0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise CelError(f"invalid duration: {text!r}")
    return datetime.timedelta(seconds=sign * seconds)


def _substring(s, start, end=None):
    end = len(s) if end is None else end
    if not 0 <= start <= end <= len(s):
        raise CelError(f"index out of range: {start}, {end}")
    return s[start:end]


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CelError(f"cannot convert {value!r} to int") from None


_STRING_METHODS = {
    "indexOf": lambda s, p: s.find(p), "lastIndexOf": lambda s, p: s.rfind(p),
    "substring": _substring, "replace": lambda s, a, b: s.replace(a, b),
    "startsWith": lambda s, p: s.startswith(p), "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: p in s, "matches": lambda s, p: re.search(p, s) is not None,
    "lowerAscii": lambda s: s.lower(), "upperAscii": lambda s: s.upper(),
    "trim": lambda s: s.strip(), "split": lambda s, sep: s.split(sep),
}

_FUNCTIONS = {
    "size": len, "int": _to_int, "uint": _to_int, "duration": _duration, "double": float, "bool": bool,
    "string": lambda v: ("true" if v else "false") if isinstance(v, bool) else str(v),
    "isURL": _is_url, "url": _Url, "matches": lambda s, p: re.search(p, s) is not None,
}


class _Evaluator:
    def __init__(self, env):
        self.env = env

    def eval(self, node):
        return getattr(self, "_" + node[0])(*node[1:])

    def _lit(self, value):
        return value

    def _ident(self, name):
        if name not in self.env:
            raise CelError(f"undeclared reference to '{name}'")
        return self.env[name]

    def _list(self, items):
        return [self.eval(i) for i in items]

    def _map(self, entries):
        return {self.eval(k): self.eval(v) for k, v in entries}

    def _field(self, target, name):
        value = self.eval(target)
        if not isinstance(value, dict) or name not in value:
            raise CelError(f"no such key: {name}")
        return value[name]

    def _index(self, target, key):
        value, index = self.eval(target), self.eval(key)
        try:
            return value[index]
        except (KeyError, IndexError, TypeError):
            raise CelError(f"no such key: {index}") from None

    def _cond(self, cond, yes, no):
        return self.eval(yes) if self.eval(cond) else self.eval(no)

    def _unop(self, op, operand):
        value = self.eval(operand)
        return (not value) if op == "!" else -value

    def _binop(self, op, left, right):
        if op in ("&&", "||"):
            first = self.eval(left)
            if (op == "&&" and first is False) or (op == "||" and first is True):
                return first
            return self.eval(right)
        a, b = self.eval(left), self.eval(right)
        try:
            if op == "in":
                return a in b
            if op == "/" and isinstance(a, int) and isinstance(b, int):
                return int(a / b)
            return {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
                    "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
                    "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b, "%": lambda: a % b}[op]()
        except (TypeError, ZeroDivisionError) as err:
            raise CelError(f"no such overload: {op} ({err})") from None

    def _call(self, name, args):
        if name == "has":
            if len(args) != 1 or args[0][0] != "field":
                raise CelError("invalid argument to has() macro")
            target = self.eval(args[0][1])
            return isinstance(target, dict) and args[0][2] in target
        if name not in _FUNCTIONS:
            raise CelError(f"undeclared reference to '{name}'")
        return _FUNCTIONS[name](*[self.eval(a) for a in args])

    def _method(self, target, name, args):
        if name in MACROS:
            return self._macro(self.eval(target), name, args)
        value = self.eval(target)
        values = [self.eval(a) for a in args]
        if isinstance(value, _Url) and name in _URL_METHODS:
            return _URL_METHODS[name](value)
        if isinstance(value, str) and name in _STRING_METHODS:
            return _STRING_METHODS[name](value, *values)
        if isinstance(value, list) and name == "join":
            return (values[0] if values else "").join(value)
        if name == "size":
            return len(value)
        raise CelError(f"found no matching overload for '{name}'")

    def _macro(self, collection, name, args):
        if len(args) != 2 or args[0][0] != "ident":
            raise CelError(f"invalid arguments to {name}() macro")
        var, body = args[0][1], args[1]

        def run(item):
            return _Evaluator(dict(self.env, **{var: item})).eval(body)

        items = list(collection)
        if name == "all":
            return all(run(i) is True for i in items)
        if name == "exists":
            return any(run(i) is True for i in items)
        if name == "exists_one":
            return sum(1 for i in items if run(i) is True) == 1
        if name == "map":
            return [run(i) for i in items]
        return [i for i in items if run(i) is True]


@functools.lru_cache(maxsize=1024)
def _parsed(rule):
    """The syntax tree of a rule (nested tuples, never modified), parsed once per text: a CRD's
    rules are evaluated on every write of every object."""
    return _Parser(rule).parse()


def evaluate(rule, env):
    return _Evaluator(env).eval(_parsed(rule))
