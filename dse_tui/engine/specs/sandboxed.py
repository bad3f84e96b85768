"""The sandbox's side of a verdict: stdlib only, compiled by DSE and run inside the sandbox.

Nothing here judges. A process in the `candidate` role loads the candidate's code and calls
its function on the arguments DSE sends, answering with the value returned, as strict plain
data, or with the exception raised. A process in the `tests` role runs a spec's `tests:`
block, where `candidate` is a proxy that asks DSE to call the function in the candidate's
own process. Expectations never enter either process; DSE compares, times and decides.

Everything a candidate's process says is a claim: its code shares this interpreter and can
rewrite any of it. What keeps a claim honest is what the process is never told (the
expected values), what is measured outside it (time), and what DSE checks of every answer
(`rebuild`: strict shapes, exact tags, bounded size and depth).

The codec: a value travels as a flat list of tokens in prefix order, written as a Python
literal that DSE reads with ast.literal_eval: a scalar is itself, a container is a header
tuple such as ('L', 3) followed by its items, so no literal nests however deep the value
does. Only exact builtin types, the standard containers generated code returns and the
datetime values are plain data, identified by identity with classes captured before any
candidate code runs, their contents read with the base type's own methods, so an override
cannot lie about them. Requests from DSE arrive marshalled (DSE is trusted).

Protocol: requests are marshalled dicts behind a 4-byte length on fd IN; answers are one
literal per line on fd OUT. Both fds are named on the command line.
"""

import builtins
import collections
import datetime
import marshal
import os
import sys

MAX_DEPTH = 100  # levels of nesting in a returned value (DSE compares those recursively)
MAX_ARG_DEPTH = 10_000  # in arguments, which DSE only relays
MAX_ITEMS = 500_000  # values in one answer
MAX_LINE = 8_000_000  # bytes of one answer
REPR_LIMIT = 300
_SMALL_INT = 1 << 64  # beyond it ints travel as hex: decimal text of huge ints is limited

# Captured before any candidate code runs, so a later rebinding of a name changes nothing here.
_type, _len, _repr, _reversed = type, len, repr, reversed
_int_repr, _float_repr, _str_repr, _bytes_repr = int.__repr__, float.__repr__, str.__repr__, bytes.__repr__
_int_format = int.__format__
_list_iter, _tuple_iter, _set_iter, _frozenset_iter = list.__iter__, tuple.__iter__, set.__iter__, frozenset.__iter__
_dict_items = dict.items
_deque_iter = collections.deque.__iter__
_complex_real, _complex_imag = complex.real.__get__, complex.imag.__get__
_COUNTER, _ORDERED, _DEFAULT, _DEQUE = (
    collections.Counter,
    collections.OrderedDict,
    collections.defaultdict,
    collections.deque,
)
_DATE, _DATETIME, _TIME, _TIMEDELTA, _TIMEZONE = (
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
)
_date_iso, _datetime_iso, _time_iso = datetime.date.isoformat, datetime.datetime.isoformat, datetime.time.isoformat
_tzinfo = datetime.datetime.tzinfo.__get__
_td_parts = (
    datetime.timedelta.days.__get__,
    datetime.timedelta.seconds.__get__,
    datetime.timedelta.microseconds.__get__,
)
_MAPPINGS = {"dict": dict, "Counter": _COUNTER, "OrderedDict": _ORDERED, "defaultdict": _DEFAULT}
_mro = type.__dict__["__mro__"].__get__  # the real MRO: a metaclass cannot fake it
_bases = type.__dict__["__bases__"].__get__
_type_dict = type.__dict__["__dict__"].__get__
_type_name = type.__dict__["__name__"].__get__
_str_slice = str.__getitem__
_BUILTIN_EXCEPTIONS = tuple(
    value for value in vars(builtins).values() if _type(value) is type and issubclass(value, BaseException)
)


class NotPlain(Exception):
    pass


def _short(value):
    try:
        text = _repr(value)
    except BaseException as exc:  # a hostile __repr__ must not break the answer
        text = "<unrepresentable %s: %s>" % (_type_name(_type(value)), _type_name(_type(exc)))
    if _type(text) is not str:
        return "<unrepresentable>"
    return text if _len(text) <= REPR_LIMIT else _str_slice(text, slice(0, REPR_LIMIT - 3)) + "..."


def _int_token(value):
    if -_SMALL_INT < value < _SMALL_INT:
        return _int_repr(value)
    return "('I', %s)" % _str_repr(_int_format(value, "x"))  # hex is exempt from the digit limit


def encode(value, max_depth=MAX_DEPTH):
    """`value` as the literal text of its token list, or NotPlain saying why not."""
    parts = []
    stack = [(value, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            raise NotPlain("more than %d values" % MAX_ITEMS)
        if depth > max_depth:
            raise NotPlain("nested more than %d levels deep" % max_depth)
        kind = _type(value)
        if value is None or value is True or value is False:
            parts.append("None" if value is None else ("True" if value else "False"))
        elif kind is int:
            parts.append(_int_token(value))
        elif kind is float:
            text = _float_repr(value)
            parts.append(text if text not in ("inf", "-inf", "nan") else "('F', %s)" % _str_repr(text))
        elif kind is str:
            parts.append(_str_repr(value))
        elif kind is bytes:
            parts.append(_bytes_repr(value))
        elif kind is complex:
            parts.append("('C', %s, %s)" % (_float_repr(_complex_real(value)), _float_repr(_complex_imag(value))))
        elif kind is list or kind is tuple or kind is set or kind is frozenset or kind is _DEQUE:
            if kind is list:
                items, tag = [*_list_iter(value)], "L"
            elif kind is tuple:
                items, tag = [*_tuple_iter(value)], "T"
            elif kind is set:
                items, tag = [*_set_iter(value)], "S"
            elif kind is frozenset:
                items, tag = [*_frozenset_iter(value)], "Z"
            else:
                items, tag = [*_deque_iter(value)], "Q"
            parts.append("('%s', %d)" % (tag, _len(items)))
            stack.extend([(item, depth + 1) for item in _reversed(items)])
        elif kind is dict or kind is _COUNTER or kind is _ORDERED or kind is _DEFAULT:
            label = (
                "dict"
                if kind is dict
                else ("Counter" if kind is _COUNTER else ("OrderedDict" if kind is _ORDERED else "defaultdict"))
            )
            pairs = [*_dict_items(value)]
            parts.append("('D', %d, %s)" % (_len(pairs), _str_repr(label)))
            for key, item in _reversed(pairs):
                stack.append((item, depth + 1))
                stack.append((key, depth + 1))
        elif kind is _DATE:
            parts.append("('d', %s)" % _str_repr(_date_iso(value)))
        elif kind is _DATETIME:
            zone = _tzinfo(value)
            if zone is not None and _type(zone) is not _TIMEZONE:
                raise NotPlain("a datetime with a %s time zone, not plain data" % _type_name(_type(zone))[:60])
            parts.append("('dt', %s)" % _str_repr(_datetime_iso(value)))
        elif kind is _TIME:
            if value.tzinfo is not None:
                raise NotPlain("a time with a time zone, not plain data")
            parts.append("('t', %s)" % _str_repr(_time_iso(value)))
        elif kind is _TIMEDELTA:
            parts.append("('td', %d, %d, %d)" % tuple(part(value) for part in _td_parts))
        else:
            bases = _bases(kind)
            if _len(bases) == 1 and bases[0] is tuple and "_fields" in _type_dict(kind):  # a namedtuple
                items = [*_tuple_iter(value)]
                parts.append("('N', %d, %s)" % (_len(items), _str_repr(_type_name(kind)[:100])))
                stack.extend([(item, depth + 1) for item in _reversed(items)])
            else:
                raise NotPlain("a %s object, not plain data (%s)" % (_type_name(kind)[:100], _short(value)))
    return "[" + ", ".join(parts) + "]"


_SCALARS = (bool, int, float, str, bytes)
_CONTAINER_TAGS = ("L", "T", "S", "Z", "Q", "D", "N")


def _scalar(token):
    """The value of a non-container token; ValueError if it is none."""
    kind = _type(token)
    if token is None or kind in _SCALARS:
        return token
    if kind is not tuple or not token or _type(token[0]) is not str:
        raise ValueError("not a token: %s" % _short(token)[:80])
    tag, size = token[0], _len(token)
    if tag == "I" and size == 2 and _type(token[1]) is str and 0 < _len(token[1]) <= 100_000:
        return int(token[1], 16)
    if tag == "F" and size == 2 and token[1] in ("inf", "-inf", "nan"):
        return float(token[1])
    if tag == "C" and size == 3 and _type(token[1]) is float and _type(token[2]) is float:
        return complex(token[1], token[2])
    if tag in ("d", "dt", "t") and size == 2 and _type(token[1]) is str and _len(token[1]) <= 64:
        parse = {"d": _DATE.fromisoformat, "dt": _DATETIME.fromisoformat, "t": _TIME.fromisoformat}[tag]
        return parse(token[1])
    if tag == "td" and size == 4 and all(_type(part) is int for part in token[1:]):
        try:
            return _TIMEDELTA(token[1], token[2], token[3])
        except OverflowError:
            raise ValueError("a timedelta out of range") from None
    raise ValueError("unknown token %s" % _short(tag)[:40])


def _build(tag, items, label):
    if tag == "L":
        return items
    if tag in ("T", "N"):
        return tuple(items)
    if tag == "Q":
        return _DEQUE(items)
    if tag == "D":
        pairs = [(items[i], items[i + 1]) for i in range(0, _len(items), 2)]
        try:
            made = dict(pairs)
        except TypeError:
            raise ValueError("unhashable mapping key") from None
        if label == "defaultdict":
            return _DEFAULT(None, made)
        return made if label == "dict" else _MAPPINGS[label](made)
    try:
        return set(items) if tag == "S" else frozenset(items)
    except TypeError:
        raise ValueError("unhashable set member") from None


def rebuild(tokens, max_depth=MAX_DEPTH):
    """The value a token list stands for; ValueError if it is not a well-formed one. DSE runs
    this on every answer, so it trusts nothing: every token's shape and type is checked, and
    it never recurses."""
    if _type(tokens) is not list or not tokens:
        raise ValueError("not a token list")
    if _len(tokens) > MAX_ITEMS + 1:
        raise ValueError("more than %d values" % MAX_ITEMS)
    root = []
    stack = [["", 1, root, None]]  # [tag, items still to come, items, label]
    for token in tokens:
        if not stack:
            raise ValueError("tokens after the value")
        kind = _type(token)
        if kind is tuple and token and _type(token[0]) is str and token[0] in _CONTAINER_TAGS:
            tag = token[0]
            if tag == "D":
                if _len(token) != 3 or _type(token[1]) is not int or token[2] not in _MAPPINGS:
                    raise ValueError("a malformed mapping header")
                count, label = 2 * token[1], token[2]
            elif tag == "N":
                if _len(token) != 3 or _type(token[1]) is not int or _type(token[2]) is not str:
                    raise ValueError("a malformed namedtuple header")
                count, label = token[1], token[2]
            else:
                if _len(token) != 2 or _type(token[1]) is not int:
                    raise ValueError("a malformed container header")
                count, label = token[1], None
            if count < 0 or count > MAX_ITEMS * 2:
                raise ValueError("a container of impossible size")
            if count:
                if _len(stack) > max_depth:
                    raise ValueError("nested more than %d levels deep" % max_depth)
                stack.append([tag, count, [], label])
                continue
            value = _build(tag, [], label)
        else:
            value = _scalar(token)
        while True:  # hand the finished value up, closing every container it completes
            frame = stack[-1]
            frame[2].append(value)
            frame[1] -= 1
            if frame[1] or _len(stack) == 1:
                break
            stack.pop()
            value = _build(frame[0], frame[2], frame[3])
        if _len(stack) == 1 and stack[0][1] == 0:
            stack.pop()
    if stack:
        raise ValueError("the value ends early")
    return root[0]


def kind_of(tokens):
    """The type name the value was returned as: what `result_type` is checked against."""
    token = tokens[0]
    if _type(token) is not tuple:
        return "NoneType" if token is None else _type(token).__name__
    tag = token[0]
    names = {
        "I": "int",
        "F": "float",
        "C": "complex",
        "L": "list",
        "T": "tuple",
        "S": "set",
        "Z": "frozenset",
        "Q": "deque",
        "d": "date",
        "dt": "datetime",
        "t": "time",
        "td": "timedelta",
    }
    return names.get(tag) or (token[2] if tag in ("D", "N") else "?")


def describe_exception(exc):
    """(the exact builtin class's name or None, the class's own name, its real nearest builtin
    ancestor or None, message). Classes are compared by identity with the ones captured at
    start, so a candidate's own `class TypeError(Exception)` is no TypeError."""
    cls = _type(exc)
    exact = None
    for known in _BUILTIN_EXCEPTIONS:
        if cls is known:
            exact = _type_name(known)
            break
    ancestor = None
    if exact is None:
        for base in _mro(cls):
            if any(base is known for known in _BUILTIN_EXCEPTIONS):
                ancestor = _type_name(base)
                break
    try:
        message = _str_slice(str(exc), slice(0, REPR_LIMIT))  # an exact str, whatever __str__ returned
    except BaseException:
        message = ""
    try:
        name = _type_name(cls)
    except BaseException:
        name = "?"
    return exact, name[:100], ancestor, message[:REPR_LIMIT]


# -- the process ------------------------------------------------------------------------------


class Channel:
    """Requests: 4-byte big-endian length + marshal. Answers: one literal per line."""

    def __init__(self, fd_in, fd_out):
        self.fd_in, self.fd_out = fd_in, fd_out

    def receive(self):
        head = self._exactly(4)
        if head is None:
            return None
        body = self._exactly(int.from_bytes(head, "big"))
        return None if body is None else marshal.loads(body)

    def _exactly(self, n):
        chunks, got = [], 0
        while got < n:
            chunk = os.read(self.fd_in, n - got)
            if not chunk:
                return None
            chunks.append(chunk)
            got += _len(chunk)
        return b"".join(chunks)

    def send(self, line):
        data = (line + "\n").encode("utf-8", "backslashreplace")
        if _len(data) > MAX_LINE:
            data = ("('toolong', %d)\n" % MAX_LINE).encode()
        while data:
            data = data[os.write(self.fd_out, data) :]


def _answer_value(value):
    try:
        return "('ok', %s)" % encode(value)
    except NotPlain as exc:
        return "('notplain', %s)" % _str_repr(str(exc))
    except RecursionError:
        return "('notplain', %s)" % _str_repr("nested too deeply to read")
    except BaseException as exc:  # a value whose reading blew up (a faked type, say)
        return "('notplain', %s)" % _str_repr("unreadable (%s)" % _type_name(_type(exc)))


def _where(exc, source, filename="<tests>", label="tests"):
    """' (LABEL line N: text)' for the innermost line of `filename` where `exc` happened."""
    try:
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        lines = source.splitlines()
        if line is None or not 0 < line <= _len(lines):
            return ""
        return " (%s line %d: %s)" % (label, line, lines[line - 1].strip()[:200])
    except BaseException:
        return ""


def _answer_raised(exc, tag="raised", source=""):
    exact, name, ancestor, message = describe_exception(exc)
    where = _where(exc, source, "<artifact>", "code") if source else ""
    return "('%s', %s, %s, %s, %s, %s)" % (
        tag,
        _repr(exact),
        _str_repr(name),
        _repr(ancestor),
        _str_repr(message),
        _str_repr(where),
    )


def _executable_lines(code):
    lines, stack = set(), [code]
    while stack:
        co = stack.pop()
        lines.update(line for _, _, line in co.co_lines() if line is not None)
        stack.extend(c for c in co.co_consts if hasattr(c, "co_lines"))
    return lines


class Candidate:
    """Loads the candidate's code and calls its function for DSE, one request at a time."""

    def __init__(self, channel):
        self.channel = channel
        self.fn = None
        self.code = None
        self.function = None
        self.source = ""

    def load(self, request):
        self.function, self.source = request["function"], request["code"]
        try:
            self.code = compile(request["code"], "<artifact>", "exec")
            namespace = {"__name__": "artifact", "__builtins__": builtins}
            exec(self.code, namespace)
        except BaseException as exc:
            return _answer_raised(exc, "loadfailed", request["code"])
        fn = namespace.get(self.function)
        if not callable(fn):
            return "('missing', %s)" % _str_repr(self.function)
        self.fn = fn
        return "('loaded',)"

    def call(self, request, fn=None):
        """Calls on fresh copies of the arguments each time; answers for the first call."""
        fn = fn or self.fn
        args, kwargs, repeat = request["args"], request["kwargs"], request.get("repeat", 1)
        answer = None
        for _ in range(repeat):
            try:
                result, error = fn(*rebuild(args, MAX_ARG_DEPTH), **rebuild(kwargs, MAX_ARG_DEPTH)), None
            except BaseException as exc:  # SystemExit and friends are the artifact's failures too
                result, error = None, exc
            if answer is None:
                answer = _answer_raised(error, source=self.source) if error is not None else _answer_value(result)
        return answer

    def coverage(self, request):
        """Lines of the code run by the given calls, traced in a fresh load (a claim: the code
        shares this interpreter)."""
        executed = set()

        def tracer(frame, event, arg):
            if frame.f_code.co_filename != "<artifact>":
                return None
            executed.add(frame.f_lineno)

            def local(frame, event, arg):
                if event == "line":
                    executed.add(frame.f_lineno)
                return local

            return local

        sys.settrace(tracer)
        try:
            namespace = {"__name__": "artifact", "__builtins__": builtins}
            exec(self.code, namespace)
            fn = namespace.get(self.function)
            for call in request["calls"]:
                self.call({"args": call[0], "kwargs": call[1]}, fn)
        except BaseException:
            pass
        finally:
            sys.settrace(None)
        lines = _executable_lines(self.code)
        return "('coverage', %s)" % _float_repr(_len(executed & lines) / _len(lines) if lines else 1.0)

    def serve(self):
        while True:
            request = self.channel.receive()
            if request is None:
                return
            op = request.get("op")
            if op == "load":
                answer = self.load(request)
            elif self.fn is None:
                answer = "('error', 'nothing is loaded')"
            elif op == "call":
                answer = self.call(request)
            elif op == "coverage":
                answer = self.coverage(request)
            else:
                answer = "('error', %s)" % _str_repr("unknown op %s" % _short(op))
            self.channel.send(answer)


class CandidateRaised(Exception):
    """What the candidate raised, when it is no builtin exception (inside a tests block)."""


class Tests:
    """Runs a tests block; each `candidate(...)` is a call DSE makes in the candidate's process,
    its value rebuilt here as plain data."""

    def __init__(self, channel):
        self.channel = channel

    def proxy(self, *args, **kwargs):
        try:
            request = "('call', %s, %s)" % (encode(list(args), MAX_ARG_DEPTH), encode(kwargs, MAX_ARG_DEPTH))
        except NotPlain as exc:
            raise TypeError("the tests passed the candidate something that is not plain data: %s" % exc) from None
        self.channel.send(request)
        answer = self.channel.receive()
        if answer is None:
            os._exit(3)  # DSE ended the conversation
        tag = answer[0]
        if tag == "ok":
            return rebuild(answer[1])
        if tag == "raised":
            exact, name, ancestor, message, where = answer[1:6]
            cls = getattr(builtins, exact, None) if exact else None
            if _type(cls) is type and issubclass(cls, BaseException):
                raise cls(message)
            raise CandidateRaised(
                "raised a non-builtin exception %s%s%s%s"
                % (name, " (a subclass of %s)" % ancestor if ancestor else "", ": " + message if message else "", where)
            )
        raise CandidateRaised(answer[1] if _len(answer) > 1 else "the candidate did not answer")

    def run(self, source):
        namespace = {"__name__": "tests", "__builtins__": builtins, "candidate": self.proxy}
        try:
            exec(compile(source, "<tests>", "exec"), namespace)
        except AssertionError as exc:
            detail = str(exc)[:REPR_LIMIT]
            return "('tests', False, %s)" % _str_repr(
                "assertion failed" + _where(exc, source) + (": " + detail if detail else "")
            )
        except BaseException as exc:
            exact, name, ancestor, message = describe_exception(exc)
            text = name + (": " + message if message else "")
            return "('tests', False, %s)" % _str_repr("tests raised " + text + _where(exc, source))
        return "('tests', True, '')"

    def serve(self):
        request = self.channel.receive()
        if request is None or request.get("op") != "tests":
            return
        self.channel.send(self.run(request["tests"]))


def main(role, fd_in, fd_out):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    sys.stdin = None
    channel = Channel(fd_in, fd_out)
    (Candidate(channel) if role == "candidate" else Tests(channel)).serve()
