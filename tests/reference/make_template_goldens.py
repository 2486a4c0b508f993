#!/usr/bin/env python3
"""Renders chat templates and Jinja snippets with jinja2 configured exactly as transformers'
apply_chat_template configures it, and writes the results as goldens for the C++ interpreter.

The environment mirrors transformers/utils/chat_template_utils.py (_compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols extension and
a `{% generation %}` tag extension, tojson replaced by json.dumps(ensure_ascii=False, ...), and the
globals raise_exception and strftime_now. apply_chat_template renders with
messages=..., tools=..., documents=..., add_generation_prompt=..., plus the tokenizer's special tokens
and any extra keyword arguments.

Usage: python3 tests/reference/make_template_goldens.py   (writes tests/reference/template_goldens/)
"""
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE_DIR = os.path.join(ROOT, "tests", "data", "templates")
OUT_DIR = os.path.join(HERE, "template_goldens")


class GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` renders its body; transformers uses it to track
    assistant tokens, which does not change the rendered text."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_environment()


def render(source, context):
    """Returns {"output": text} or {"error": kind, "message": text}."""
    try:
        template = ENV.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": "syntax", "message": str(e)}
    except SyntaxError as e:  # jinja2 generated Python that does not compile, e.g. break outside a loop
        return {"error": "syntax", "message": f"SyntaxError: {e.msg}"}
    try:
        return {"output": template.render(**context)}
    except jinja2.exceptions.TemplateError as e:
        kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "runtime"
        return {"error": kind, "message": str(e)}
    except Exception as e:  # TypeError, ZeroDivisionError, ... surface as runtime errors
        return {"error": "runtime", "message": f"{type(e).__name__}: {e}"}


# ----------------------------------------------------------------------------- chat templates

SPECIAL_TOKENS = {
    "gemma3": {"bos_token": "<bos>", "eos_token": "<end_of_turn>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "llama3_1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3_1_tools": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama4_style": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>", "pad_token": "<|finetune_right_pad|>"},
    "gemma_tools_style": {"bos_token": "<bos>", "eos_token": "<end_of_turn>", "pad_token": "<pad>"},
    "chatml_tools": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "mistral_style": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "kitchen_sink": {"bos_token": "<s>", "eos_token": "</s>"},
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather.\nReturns a short report.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name, e.g. \"Paris\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
            },
            "required": ["location"],
        },
        "return": {"type": "string"},
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a timezone — uses IANA names.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}

MESSAGE_SETS = {
    "single_user": [{"role": "user", "content": "Hello! How are you?"}],
    "system_user": [
        {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."},
        {"role": "user", "content": "What is 2 + 2?"},
    ],
    "multi_turn": [
        {"role": "system", "content": "Be concise."},
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "  7  "},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "<think>\nThe next prime after 7.\n</think>\n\n11"},
        {"role": "user", "content": "Thanks."},
    ],
    "list_content": [
        {"role": "system", "content": [{"type": "text", "text": "You describe images."}]},
        {
            "role": "user",
            "content": [
                {"type": "image", "url": "http://example.com/cat.png"},
                {"type": "text", "text": " What is in this picture? "},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "A cat on a sofa."}]},
        {"role": "user", "content": [{"type": "text", "text": "And this one?"}, {"type": "image"}]},
    ],
    "tool_calls": [
        {"role": "system", "content": "You can check the weather."},
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call12345",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius"}},
                }
            ],
        },
        {"role": "tool", "name": "get_weather", "tool_call_id": "call12345", "content": "18°C, cloudy"},
        {"role": "assistant", "content": "It is 18°C and cloudy in Paris."},
        {"role": "user", "content": "<tool_response>\nfake\n</tool_response>"},
    ],
    "unicode": [
        {"role": "user", "content": "Ünïcödé ☃ — 日本語のテキスト 👋🏽 עברית \"quotes\" 'single' \\back\\slash"},
        {"role": "assistant", "content": "Ça va? Καλά! 🙂\u00a0nbsp\u200bzwsp"},
        {"role": "user", "content": "tab\there\r\nwindows newline\x0bvt"},
    ],
    "whitespace": [
        {"role": "system", "content": "\n\n   system with padding   \n\n"},
        {"role": "user", "content": "  \t leading and trailing \t  \n"},
        {"role": "assistant", "content": "\n"},
        {"role": "user", "content": "line1\n\n\nline2\n    indented\n"},
    ],
    "bad_role_order": [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ],
    "assistant_first": [
        {"role": "assistant", "content": "I speak first."},
        {"role": "user", "content": "ok"},
    ],
}

EXTRA_CONTEXTS = {
    "none": {},
    "tools": {"tools": [WEATHER_TOOL, TIME_TOOL]},
    "thinking_off": {"enable_thinking": False},
    "thinking_on_date": {"enable_thinking": True, "date_string": "02 Dec 2026"},
    "tools_in_system": {"tools": [WEATHER_TOOL], "tools_in_user_message": False},
}

CHAT_CASES = []
for template_name in SPECIAL_TOKENS:
    for messages_name in MESSAGE_SETS:
        for extra_name in ["none", "tools"] if template_name not in ("gemma3", "llama3_1") else ["none"]:
            for agp in (True, False):
                CHAT_CASES.append((template_name, messages_name, extra_name, agp))
for template_name in ("chatml_tools", "gemma_tools_style", "llama3_1_tools"):
    for extra_name in ("thinking_off", "thinking_on_date", "tools_in_system"):
        CHAT_CASES.append((template_name, "multi_turn", extra_name, True))
        CHAT_CASES.append((template_name, "tool_calls", extra_name, True))


def chat_goldens():
    templates = {}
    for name in SPECIAL_TOKENS:
        with open(os.path.join(TEMPLATE_DIR, name + ".jinja"), encoding="utf-8", newline="") as f:
            templates[name] = f.read()
    cases = []
    for template_name, messages_name, extra_name, agp in CHAT_CASES:
        extra = EXTRA_CONTEXTS[extra_name]
        context = dict(SPECIAL_TOKENS[template_name])
        context.update({k: v for k, v in extra.items() if k not in ("tools", "documents")})
        context.update(
            messages=MESSAGE_SETS[messages_name],
            tools=extra.get("tools"),
            documents=extra.get("documents"),
            add_generation_prompt=agp,
        )
        result = render(templates[template_name], context)
        cases.append(
            {
                "template": template_name,
                "messages": messages_name,
                "extra": extra_name,
                "add_generation_prompt": agp,
                **result,
            }
        )
    return {
        "special_tokens": SPECIAL_TOKENS,
        "message_sets": MESSAGE_SETS,
        "extra_contexts": EXTRA_CONTEXTS,
        "cases": cases,
    }


# ----------------------------------------------------------------------------- snippets

MSGS = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
]

SNIPPETS = [
    # --- text, whitespace control, comments, raw
    ("text_only", "plain text\n", {}),
    ("text_two_trailing_newlines", "a\n\n", {}),
    ("crlf_text", "a\r\nb\rc\r\n", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "  {% if true %}\n    x\n  {% endif %}\n", {}),
    ("lstrip_not_for_variables", "  {{ 'v' }}\n  {% if 1 %}b{% endif %}", {}),
    ("lstrip_mid_line", "a  {% if 1 %}b{% endif %}  c", {}),
    ("lstrip_after_variable_same_line", "{{ 1 }}  {% if 1 %}x{% endif %}", {}),
    ("dash_strip_both", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", {}),
    ("dash_strip_variable", "a \n {{- 'x' -}} \n b", {}),
    ("plus_disables_lstrip", "  {%+ if true %}x{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\nx{% endif %}", {}),
    ("comment_trim", "a\n  {# comment #}\nb", {}),
    ("comment_dash", "a  {#- c -#}  b", {}),
    ("comment_multiline", "{# line1\nline2 #}x", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}", {}),
    ("raw_block_dash", "a {%- raw -%}  {{ x }}  {%- endraw -%} b", {}),
    ("unicode_whitespace_strip", "a\u3000\u00a0 {{- 'b' -}} \u2003c", {}),
    ("newline_inside_tag", "{{\n  'a'\n  ~ 'b'\n}}", {}),
    # --- literals and printing
    ("print_none_bool", "{{ none }} {{ None }} {{ true }} {{ False }}", {}),
    ("print_numbers", "{{ 1 }} {{ -2 }} {{ 1.0 }} {{ 1.5e3 }} {{ 1e100 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 123456789.0 * 1e8 }} {{ 1_000 }} {{ 0x1F }}", {}),
    ("print_list_repr", "{{ [1, 'a', none, true, 2.5, [\"it's\"], ('t',), {'k': 'v'}] }}", {}),
    ("print_dict_repr", "{{ {'a': 1, 'b': [1, 2], 'c': {'d': none}} }}", {}),
    ("print_string_repr_escapes", "{{ ['a\\nb', 'tab\\t', 'q\\'s', 'both\\'\"', 'back\\\\', '\\x01', 'é☃'] }}", {}),
    ("print_context_list", "{{ items }}", {"items": ["x", 1, None, {"a": [True, 1.25]}]}),
    ("print_unicode_repr", "{{ [s] }}", {"s": "nbsp\u00a0zw\u200b\u2028ls é 👋 \x7f"}),
    ("print_tuple", "{{ (1, 2) }} {{ (1,) }} {{ () }}", {}),
    ("string_escapes", "{{ 'a\\tb\\\\c\\u00e9\\x41\\101\\q' }}", {}),
    ("string_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("print_float_repr_edges", "{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.0 }} {{ 2.5 }} {{ 1/3 }}", {}),
    # --- expressions
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 'x' ~ 1 ~ none ~ true }} {{ 3 * 'z' }}", {}),
    ("list_ops", "{{ [1] + [2, 3] }} {{ [0] * 3 }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] < [1, 3] }} {{ true == 1 }}", {}),
    ("logic_returns_operands", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ not 0 }} {{ not 'a' }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 3 not in [1, 2] }}", {}),
    ("ternary", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 'a' if 0 else 'b' if 1 else 'c' }}", {}),
    ("unary", "{{ -3 }} {{ +3 }} {{ -(2 + 3) }} {{ - 2 ** 2 }} {{ -x|abs }}", {"x": 5}),
    ("precedence_filter_vs_op", "{{ 'a' ~ 'b' | upper }} {{ (1 + 2) | string }} {{ 1 + '2' | int }}", {}),
    ("precedence_filter_binds_tighter_error", "{{ 1 + 2 | string }}", {}),
    ("not_is_precedence", "{{ not x is defined }} {{ not y is defined }} {{ x is not none }}", {"x": 1}),
    ("subscripts", "{{ l[0] }} {{ l[-1] }} {{ d['k'] }} {{ d.k }} {{ l.1 }} {{ s[0] }} {{ s[-1] }}", {"l": [1, 2, 3], "d": {"k": "v"}, "s": "héllo"}),
    ("slices", "{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[1:-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ l[5:] }} {{ l[:-10] }} {{ l[3:0:-1] }}", {"l": [1, 2, 3, 4], "s": "añb☃c"}),
    ("dict_literal_nested_braces", "{{ {'a': {'b': 1}} }}{{ {'x': [1, {'y': 2}]}['x'][1]['y'] }}", {}),
    ("getattr_dict_method_vs_key", "{{ d.get('missing', 'dflt') }} {{ d.get('a') }} {{ d.get('zz') }} {{ d['items'] }}", {"d": {"a": 1, "items": "key wins"}}),
    ("missing_attribute_prints_empty", "[{{ d.nope }}][{{ d['nope'] }}][{{ l[10] }}][{{ none.x }}]", {"d": {}, "l": []}),
    # --- undefined
    ("undefined_prints_empty", "[{{ nothing }}]", {}),
    ("undefined_tests", "{{ nothing is defined }} {{ nothing is undefined }} {{ nothing | default('d') }} {{ '' | default('e', true) }} {{ nothing | d('x') }} {{ none | default('n') }}", {}),
    ("undefined_iter_len", "{% for x in nothing %}x{% else %}empty{% endfor %} {{ nothing | length }} {{ nothing | list }}", {}),
    ("undefined_concat", "[{{ nothing ~ 'a' }}]", {}),
    ("undefined_compare", "{{ nothing == none }} {{ nothing == nothing2 }} {{ 'a' in nothing }}", {}),
    ("undefined_attribute_error", "{{ nothing.attr }}", {}),
    ("undefined_add_error", "{{ nothing + 1 }}", {}),
    ("undefined_nested_error", "{{ d.missing.deeper }}", {"d": {}}),
    ("undefined_call_error", "{{ nothing() }}", {}),
    # --- set / namespace / scoping
    ("set_basic", "{% set x = 1 %}{% set y, z = 2, 3 %}{{ x }}{{ y }}{{ z }}", {}),
    ("set_block", "{% set body %}  hello {{ name }}  {% endset %}[{{ body }}]", {"name": "Bob"}),
    ("set_block_filter", "{% set body | upper | trim %}  hello  {% endset %}[{{ body }}]", {}),
    ("namespace_attr", "{% set ns = namespace(count=0, items=[]) %}{% for i in range(4) %}{% set ns.count = ns.count + i %}{% endfor %}{{ ns.count }} {{ ns.items }}", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("loop_scope_does_not_leak", "{% set x = 'outer' %}{% for i in [1, 2] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("loop_scope_per_iteration", "{% for i in [1, 2, 3] %}{% if i == 2 %}{% set y = 'set' %}{% endif %}[{{ y }}]{% endfor %}", {}),
    ("loop_reads_outer_until_set", "{% set x = 5 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }},{% endfor %}{{ x }}", {}),
    ("if_does_not_scope", "{% if true %}{% set x = 'in if' %}{% endif %}{{ x }}", {}),
    ("reassign_messages", "{% set messages = messages[1:] %}{{ messages | length }}", {"messages": [1, 2, 3]}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("set_tuple_unpack_error", "{% set a, b = [1, 2, 3] %}", {}),
    ("namespace_assign_error", "{% set d = {} %}{% set d.x = 1 %}", {}),
    # --- for loops
    ("loop_variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{% endfor %}", {}),
    ("loop_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}@{{ loop.index }}/{{ loop.length }} {% endfor %}", {}),
    ("loop_else", "{% for x in [] %}{{ x }}{% else %}none{% endfor %}{% for x in [1] if x > 5 %}{{ x }}{% else %}filtered{% endfor %}", {}),
    ("loop_dict", "{% for k in d %}{{ k }}{% endfor %} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for v in d.values() %}{{ v }}{% endfor %} {{ d.keys() | list }}", {"d": {"z": 1, "a": 2}}),
    ("loop_unpack_pairs", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for (a, b) in [(5, 6)] %}{{ a * b }}{% endfor %}", {}),
    ("loop_nested_loop_var", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }} {% endfor %}", {}),
    ("loop_cycle", "{% for i in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("loop_break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("loop_changed", "{% for x in [1, 1, 2, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", {}),
    ("loop_recursive", "{% for item in tree recursive %}{{ item.name }}{% if item.children %}({{ loop(item.children) }}){% endif %}{% endfor %}", {"tree": [{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c"}]}, {"name": "d"}]}),
    ("loop_reversed_messages", "{% for m in messages[::-1] %}{{ (messages | length - 1) - loop.index0 }}{{ m.role[0] }} {% endfor %}", {"messages": MSGS}),
    ("loop_over_none_error", "{% for x in none %}{% endfor %}", {}),
    ("loop_over_int_error", "{% for x in 5 %}{% endfor %}", {}),
    ("range_forms", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }}", {}),
    # --- macros and call blocks
    ("macro_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', 'Hi') }} {{ greet('Cy', punct='?') }}", {}),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }} {{ varargs }} {{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_sees_outer_at_call", "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}", {}),
    ("macro_default_uses_param", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}", {}),
    ("macro_whitespace", "{% macro m(x) -%}\n  [{{ x }}]\n{%- endmacro %}\n<{{ m(1) }}>", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}{% call(item, n) each(['a', 'b']) %}{{ n }}={{ item }};{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}", {}),
    ("filter_block_chain", "{% filter trim | replace('a', 'o') %}  banana  {% endfilter %}", {}),
    # --- filters
    ("filter_trim", "[{{ '  a b \\n' | trim }}][{{ 'xxaxx' | trim('x') }}][{{ none | trim }}]", {}),
    ("filter_case", "{{ 'hello WORLD' | upper }} {{ 'HeLLo' | lower }} {{ 'hello world-foo(bar)' | title }} {{ 'hELLO wORLD' | capitalize }} {{ 'émile zola' | title }} {{ 'ÉCOLE' | lower }}", {}),
    ("filter_tojson", "{{ d | tojson }}", {"d": {"b": [1, 2.5, None, True], "a": "é\"\n</script>&", "n": {"x": -0.5}}}),
    ("filter_tojson_indent", "{{ d | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ {} | tojson(indent=2) }}|{{ [1, [2]] | tojson(indent='\\t') }}", {"d": {"b": [1, {"c": []}], "a": {}}}),
    ("filter_tojson_options", "{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} {{ 'é👋' | tojson(ensure_ascii=true) }} {{ d | tojson(indent=0) }}", {"d": {"b": 1, "a": [1, 2]}}),
    ("filter_tojson_scalars", "{{ none | tojson }} {{ true | tojson }} {{ 1.0 | tojson }} {{ 1e20 | tojson }} {{ 'x' | tojson }} {{ (1, 2) | tojson }} {{ '\\x01\\x7f' | tojson }}", {}),
    ("filter_tojson_positional_ensure_ascii", "{{ 'é' | tojson(2) }}", {}),
    ("filter_tojson_undefined_error", "{{ nothing | tojson }}", {}),
    ("filter_length", "{{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | length }} {{ 'abc' | count }}", {}),
    ("filter_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", {}),
    ("filter_join", "{{ [1, 2, 3] | join }} {{ ['a', 'b'] | join(', ') }} {{ users | join('|', attribute='name') }}", {"users": [{"name": "x"}, {"name": "y"}]}),
    ("filter_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}] {{ {'k': 1, 'j': 2} | first }}", {}),
    ("filter_list", "{{ 'abc' | list }} {{ {'a': 1} | list }} {{ (1, 2) | list }}", {}),
    ("filter_map", "{{ users | map(attribute='name') | list }} {{ ['a', 'B'] | map('upper') | list }} {{ users | map(attribute='age', default=0) | list }} {{ ['a-b'] | map('replace', '-', '+') | list }}", {"users": [{"name": "x", "age": 3}, {"name": "y"}]}),
    ("filter_select_reject", "{{ range(10) | select('odd') | list }} {{ range(10) | reject('even') | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ [1, 2, 3] | select('equalto', 2) | list }} {{ [1, 5, 9] | select('gt', 4) | list }} {{ ['a', 'bb'] | select('in', ['bb']) | list }}", {}),
    ("filter_selectattr", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ msgs | rejectattr('role', '==', 'user') | list | length }} {{ msgs | selectattr('tool_calls') | list | length }} {{ msgs | selectattr('tool_calls', 'defined') | list | length }}", {"msgs": MSGS}),
    ("filter_items_dictsort", "{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | dictsort(by='value') }} {{ {'b': 1, 'A': 2} | dictsort }} {{ {'b': 1, 'A': 2} | dictsort(true) }}", {"d": {"b": 2, "a": 3, "c": 1}}),
    ("filter_unique", "{{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A', 'b'] | unique(case_sensitive=true) | list }} {{ [1, 2, 1, 3] | unique | list }} {{ users | unique(attribute='g') | map(attribute='n') | list }}", {"users": [{"g": 1, "n": "a"}, {"g": 1, "n": "b"}, {"g": 2, "n": "c"}]}),
    ("filter_int_float", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(base=16) }} {{ ' 12 ' | int }} {{ '3.5' | float }} {{ 'x' | float }} {{ 2 | float }} {{ true | int }} {{ none | int }} {{ '1_000' | int }} {{ '1e3' | float }}", {}),
    ("filter_string", "{{ 1 | string }} {{ none | string }} {{ [1, 'a'] | string }} {{ (1 | string) ~ 2 }}", {}),
    ("filter_safe_escape", "{{ '<b>' | safe }} {{ '<a href=\"x\">&\\'</a>' | escape }} {{ '<i>' | e }}", {}),
    ("filter_round_abs", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 1.23456 | round(3) }} {{ 7 | round }} {{ 2.1 | round(method='ceil') }} {{ 2.9 | round(method='floor') }} {{ -3 | abs }} {{ -2.5 | abs }} {{ 0.5 | round }} {{ 1.5 | round }}", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc' | indent }}][{{ 'a\\nb' | indent(2, true) }}][{{ 'a\\n\\nb' | indent(2, blank=true) }}][{{ 'x\\ny' | indent('> ') }}][{{ '' | indent(first=true) }}]", {}),
    ("filter_wordcount_center", "{{ 'hello big world, ok?' | wordcount }} [{{ 'ab' | center(7) }}] [{{ 'abc' | center(8) }}] [{{ 'abcdef' | center(3) }}]", {}),
    ("filter_sum_min_max", "{{ [1, 2, 3] | sum }} {{ [1.5, 2] | sum }} {{ items | sum(attribute='v') }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ ['b', 'A', 'c'] | min }} {{ ['b', 'A', 'c'] | max(case_sensitive=true) }} {{ items | max(attribute='v') }} [{{ [] | max }}] {{ [1, 2] | sum(start=10) }}", {"items": [{"v": 1}, {"v": 5}, {"v": 2}]}),
    ("filter_reverse_sort", "{{ [1, 3, 2] | reverse | list }} {{ 'abc' | reverse }} {{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ users | sort(attribute='age') | map(attribute='n') | list }} {{ users | sort(attribute='age,n', reverse=true) | map(attribute='n') | list }}", {"users": [{"n": "x", "age": 30}, {"n": "y", "age": 20}, {"n": "a", "age": 30}]}),
    ("filter_batch", "{{ range(5) | batch(2) | list }} {{ range(5) | batch(2, 'x') | list }}", {}),
    ("filter_format", "{{ '%s-%d' | format('a', 3) }} {{ '%05.2f|%-4s|%x' | format(3.14159, 'ab', 255) }} {{ '%(a)s' | format(a='kw') }} {{ 'v=%r' % 'q' }} {{ '%s and %s' % (1, 2) }} {{ '%%' % () }}", {}),
    ("filter_truncate", "{{ 'hello world this is long' | truncate(12) }} {{ 'hello world this is long' | truncate(12, true) }} {{ 'short' | truncate(12) }} {{ 'hello world foo' | truncate(11, false, '..', 0) }}", {}),
    ("filter_attr", "{% set ns = namespace(x=5) %}{{ ns | attr('x') }} [{{ d | attr('k') }}] {{ d | attr('items') is callable }}", {"d": {"k": 1}}),
    ("filter_unknown_error", "{{ 1 | nosuchfilter }}", {}),
    ("filter_unknown_in_dead_branch_error", "{% if false %}{{ 1 | nosuchfilter }}{% endif %}ok", {}),
    ("test_unknown_in_dead_branch_error", "{% if false and 1 is nosuchtest %}{% endif %}ok", {}),
    ("filter_default_chain", "{{ missing | default(none) | string }} {{ false | default('x') }} {{ false | default('x', true) }}", {}),
    # --- tests
    ("tests_types", "{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is integer }} {{ true is boolean }} {{ true is number }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ none is none }} {{ [] is sequence }} {{ none is iterable }}", {}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aB' is lower }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ 2 is in [1, 2] }} {{ 'a' is in 'cat' }}", {}),
    ("tests_comparison", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 2 is gt 1 }} {{ 2 is greaterthan 3 }} {{ 1 is lt 2 }} {{ 1 is lessthan 0 }} {{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 1 is ne 2 }} {{ [1, 2, 1] | select('==', 1) | list }} {{ [1, 2] | reject('!=', 1) | list }} {{ [3, 4] | select('<=', 3) | list }}", {}),
    ("syntax_operator_test_name", "{{ 1 is == 1 }}", {}),
    ("tests_callable_sameas", "{{ range is callable }} {{ 'x' is callable }} {{ none is sameas none }} {{ x is sameas x }} {{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ s.upper is callable }}", {"x": [1], "s": "t"}),
    ("tests_negated", "{{ 1 is not string }} {{ x is not defined }} {{ none is not none }}", {}),
    ("test_unknown_error", "{{ 1 is nosuchtest }}", {}),
    # --- string methods
    ("str_strip_split", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}] {{ 'a,b,,c'.split(',') }} {{ '  a  b\\tc\\n'.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ ''.split() }} {{ ''.split(',') }}", {}),
    ("str_starts_ends", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }} {{ 'hello'.startswith('l', 2) }}", {}),
    ("str_case_methods", "{{ 'aBc'.upper() }} {{ 'aBc'.lower() }} {{ 'hello wORLD foo-bar'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aBc'.swapcase() }}", {}),
    ("str_find_count_replace", "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ 'hello'.replace('l', 'L') }} {{ 'hello'.replace('l', 'L', 1) }} {{ 'héllo'.find('l') }} {{ 'hello'.index('e') }}", {}),
    ("str_join_format", "{{ ', '.join(['a', 'b']) }} {{ '{} + {} = {}'.format(1, 2, 3) }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '{:>5}|{:<4}|{:^6}|{:.2f}'.format('r', 'l', 'c', 3.14159) }} {{ '{{literal}}'.format() }}", {}),
    ("str_misc_methods", "{{ 'abc'.isalpha() }} {{ '123'.isdigit() }} {{ 'a1'.isalnum() }} {{ '  '.isspace() }} {{ 'ABC'.isupper() }} {{ 'abc'.islower() }} {{ '7'.zfill(3) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4, '.') }} {{ 'ab'.rjust(4) }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'a=b=c'.partition('=') }} {{ 'a\\nb\\r\\nc'.splitlines() }}", {}),
    ("str_method_on_content", "{% set c = message.content %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {"message": {"content": "<think>\nreason\n</think>\n\nanswer"}}),
    # --- dict / list methods and the immutable sandbox
    ("dict_methods", "{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('x', 0) }}", {"d": {"a": 1, "b": 2}}),
    ("list_methods", "{{ l.index(2) }} {{ l.count(1) }}", {"l": [1, 2, 1]}),
    ("sandbox_list_append_error", "{% set l = [1] %}{{ l.append(2) }}", {}),
    ("sandbox_dict_update_error", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    ("sandbox_pop_attribute_prints_empty", "[{{ d.pop }}]", {"d": {}}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'z': 1}, y=2) }} {{ dict() }}", {}),
    # --- globals and errors
    ("raise_exception", "{{ raise_exception('Bad input: ' ~ 42) }}", {}),
    ("raise_exception_in_loop", "ok{% for m in messages %}{% if m.role == 'bad' %}{{ raise_exception('Role ' + m.role + ' not allowed') }}{% endif %}{% endfor %}", {"messages": [{"role": "user"}, {"role": "bad"}]}),
    ("strftime_now_shape", "{{ strftime_now('%Y') | length }} {{ strftime_now('%d %b %Y') | length }}", {}),
    ("joiner_cycler", "{% set j = joiner(' | ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %} {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}", {}),
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}[{{ m.content }}]{% endif %}{% endfor %}", {"messages": MSGS}),
    ("block_tag_renders_inline", "a{% block body %}b{% endblock %}c", {}),
    ("type_error_add", "{{ 'a' + 1 }}", {}),
    ("type_error_compare", "{{ 'a' < 1 }}", {}),
    ("zero_division", "{{ 1 / 0 }}", {}),
    ("zero_floor_division", "{{ 1 // 0 }}", {}),
    ("not_callable", "{{ 'abc'() }}", {}),
    ("range_too_big", "{{ range(200000) | length }}", {}),
    ("syntax_unclosed_block", "{% if true %}never closed", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expression", "{{ 1 + }}", {}),
    ("syntax_unclosed_variable", "{{ 1 ", {}),
    ("syntax_unclosed_string", "{{ 'abc }}", {}),
    ("syntax_unclosed_comment", "{# never", {}),
    ("syntax_endfor_without_for", "{% endfor %}", {}),
    ("syntax_extends_unsupported", "{% extends 'base.html' %}", {}),
    ("syntax_include_unsupported", "{% include 'x' %}", {}),
    ("syntax_do_needs_extension", "{% do x.append(1) %}", {}),
    ("syntax_chained_tests", "{{ 1 is number is number }}", {}),
    ("syntax_unbalanced_paren", "{{ (1 + 2 }}", {}),
    # --- cases found by differential fuzzing against jinja2
    ("fuzz_float_odd_even", "{{ -1.5 is odd }} {{ 3.0 is odd }} {{ 4.0 is even }} {{ 7.5 is divisibleby 2.5 }}", {}),
    ("fuzz_percent_mapping_like", "{{ 'abc' % [1, 2] }} {{ 'abc' % {'a': 1} }} {{ '4' % nothing }}", {}),
    ("fuzz_percent_leftover_error", "{{ 'abc' % 'x' }}", {}),
    ("fuzz_float_mod_zero_sign", "{{ 0 % -1.5 }} {{ 3.0 % 1.5 }} {{ -3.0 % 1.5 }}", {}),
    ("fuzz_undefined_is_callable", "{{ nothing is callable }} {{ ('' | last) is callable }}", {}),
    ("fuzz_int_of_undefined_error", "{{ nothing | int }}", {}),
    ("fuzz_float_of_empty_max_error", "{{ [] | max | float }}", {}),
    ("fuzz_indent_non_string_error", "{{ 2.5 | indent(2) }}", {}),
    ("fuzz_truncate_non_string_error", "{{ 12345 | truncate(5) }}", {}),
    ("fuzz_unhashable_in_dict_error", "{{ [1] in {} }}", {}),
    # --- generators, ranges and dict views behave like Python's
    ("generator_always_true", "{{ 'yes' if ([] | select) else 'no' }} {{ 'yes' if (l | selectattr('x')) else 'no' }} {{ (l | map(attribute='x')) is sequence }}", {"l": []}),
    ("generator_single_use", "{% set g = [1, 2, 3] | select('odd') %}{{ g | list }}{{ g | list }}{% set h = [1, 2] | map('string') %}{% for x in h %}{{ x }}{% endfor %}{% for x in h %}again{% else %}used{% endfor %}", {}),
    ("generator_length_error", "{{ messages | selectattr('role', 'eq', 'user') | length }}", {"messages": MSGS}),
    ("generator_last_error", "{{ [1, 2] | map('string') | last }}", {}),
    ("generator_index_undefined", "[{{ ([1, 2] | select)[0] }}]", {}),
    ("generator_tojson_error", "{{ [1, 2] | select | tojson }}", {}),
    ("generator_reverse_is_list", "{{ [1, 2, 3] | select | reverse }} {{ [3, 4] | reverse | list }}", {}),
    ("generator_lazy_errors", "{{ 'ok' if (true | map('string')) else 'no' }} {% for x in 0 | select %}{{ x }}{% else %}empty{% endfor %} {{ none | selectattr('a') | list }}", {}),
    ("generator_lazy_error_on_use", "{{ true | map('string') | list }}", {}),
    ("range_and_views_repr", "{{ range(3) }} {{ range(1, 9, 2) }} {{ range(2) | length }} {{ range(5)[-1] }} {{ d.items() }} {{ d.keys() }} {{ d.values() }} {{ d.keys() | length }}", {"d": {"a": 1, "b": [2]}}),
    ("range_tojson_error", "{{ range(3) | tojson }}", {}),
    # --- statement rules jinja2 enforces when it compiles the template
    ("break_outside_loop_error", "a{% break %}b", {}),
    ("continue_in_macro_outside_loop_error", "{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", {}),
    ("break_in_for_else_error", "{% for x in [1] %}{% else %}{% break %}{% endfor %}", {}),
    ("break_inside_set_and_filter_blocks", "{% for x in [1, 2] %}{% set y %}{% if x == 2 %}{% break %}{% endif %}{% endset %}{{ x }}{% endfor %}|{% for x in [1, 2] %}{% filter upper %}a{% continue %}{% endfilter %}{{ x }}{% endfor %}", {}),
    ("break_in_call_block_error", "{% macro m() %}{{ caller() }}{% endmacro %}{% for x in [1] %}{% call m() %}{% break %}{% endcall %}{% endfor %}", {}),
    ("assign_loop_in_for_error", "{% for x in [1] %}{% if 1 %}{% set loop = 3 %}{% endif %}{% endfor %}", {}),
    ("assign_loop_outside_for", "{% set loop = 1 %}{{ loop }}", {}),
    ("macro_default_order_error", "{% macro m(a=1, b) %}{% endmacro %}", {}),
    ("macro_caller_param_error", "{% macro m(caller) %}{{ caller }}{% endmacro %}", {}),
    ("macro_caller_param_unused", "{% macro m(caller) %}x{% endmacro %}{{ m(1) }}", {}),
    ("macro_too_many_args_error", "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("macro_unknown_kwarg_error", "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1, y=2) }}", {}),
    ("macro_caller_without_use_error", "{% macro m(x) %}{% endmacro %}{% call m(1) %}x{% endcall %}", {}),
    ("macro_caller_in_kwargs", "{% macro m(x) %}[{{ kwargs }}]{% endmacro %}{% call m(1) %}x{% endcall %}", {}),
    ("macro_varargs_in_nested_macro", "{% macro m() %}{% macro n() %}{{ varargs }}{% endmacro %}{{ n(5) }}{% endmacro %}[{{ m(1) }}]", {}),
    ("macro_caller_default", "{% macro m(caller=1) %}{{ caller }}{% endmacro %}{{ m() }}", {}),
    ("negative_constant_power", "{{ -3 ** x }} {{ (-3) ** x }} {{ -3 ** 2 }} {{ (2 - 5) ** x }} {{ -x ** 2 }}", {"x": 2}),
    ("dict_literal_unhashable_error", "{{ {[1]: 2} }}", {}),
    ("float_power_overflow_error", "{{ 10 ** 400.0 }}", {}),
    # --- jinja2's static scoping: names a scope assigns start undefined for nested scopes read first
    ("scope_nested_read_before_outer_set", "{% for j in [1] %}[{{ x }}]{% endfor %}{% set x = 5 %}[{{ x }}]", {"x": 1}),
    ("scope_direct_read_before_set", "{{ x }}{% set x = 5 %}{{ x }}", {"x": 1}),
    ("scope_macro_called_before_set", "{% macro m() %}[{{ x }}]{% endmacro %}{{ m() }}{% set x = 5 %}{{ m() }}", {"x": 1}),
    ("scope_branch_set_keeps_outer", "{% if c %}{% set x = 2 %}{% endif %}{% for j in [1] %}[{{ x }}]{% endfor %}", {"x": 1, "c": False}),
    ("scope_set_block_nested", "{% for i in [1] %}{% set b %}[{{ x }}]{% endset %}{{ b }}{% set x = 5 %}{% endfor %}", {"x": 1}),
    ("scope_for_else_after_continue", "{% for i in [1, 2] %}{% continue %}{% else %}E{% endfor %}|{% for i in [1, 2] %}{% if i == 2 %}{% continue %}{% endif %}{{ i }}{% else %}E{% endfor %}|{% for i in [1] %}{% break %}{% else %}E{% endfor %}", {}),
    # --- |safe and |escape return markupsafe.Markup, which escapes what is added to it
    ("markup_concat_escapes", "{{ (s | safe) + s }} {{ s + (s | safe) }} {{ (s | safe) ~ s }} {{ (s | safe) * 2 + '<' }}", {"s": "<b>"}),
    ("markup_escape_idempotent", "{{ s | e | e }} {{ s | forceescape | forceescape }} {{ s | safe is escaped }} {{ s is escaped }}", {"s": "<b>"}),
    ("markup_str_filters_keep_markup", "{{ (s | safe) | upper + '&' }} {{ (s | safe) | trim + '<' }} {{ (s | safe) | replace('b', 'i') + '<' }} {{ (s | safe) | title + '<' }}", {"s": "<b>"}),
    ("markup_methods_and_format", "{{ (s | safe).upper() + '&' }} {{ ('%s|%s' | safe) % (s, 1) }} {{ '%s|%s' | safe | format(s, 2) }} {{ (s | safe).join(l) }} {{ ('{}' | safe).format(s) }}", {"s": "<b>", "l": ["<", "a"]}),
    ("markup_index_slice", "{{ (s | safe)[0] + '<' }} {{ (s | safe)[1:] + '<' }} {{ (s | safe) | reverse + '<' }} {{ [s | safe] }} {{ s | safe | tojson }}", {"s": "<b>"}),
    ("unicode_full_case_mappings", "{{ s | upper }}|{{ s | lower }}|{{ s | title }}|{{ s | capitalize }}|{{ s.title() }}|{{ s.capitalize() }}", {"s": "straße ǆemal ﬁnal İstanbul ΟΔΟΣ ΣΟΦΟΣ aΣ"}),
    # --- larger realistic fragments
    ("content_parts_loop", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for part in m.content %}{% if part.type == 'image' %}<img>{% elif part.type == 'text' %}{{ part.text | trim }}{% endif %}{% endfor %}{% endif %}|{% endfor %}", {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " hi "}]}, {"role": "assistant", "content": "yo"}]}),
    ("tool_call_arguments", "{% for tc in message.tool_calls %}{{ tc.function.name }}({{ tc.function.arguments | tojson }}){% if tc.function.arguments is mapping %}{% for k, v in tc.function.arguments | items %} {{ k }}={{ v }}{% endfor %}{% endif %}{% endfor %}", {"message": {"tool_calls": [{"function": {"name": "f", "arguments": {"z": [1, {"y": None}], "a": "é"}}}]}}),
    ("messages_length_checks", "{% if messages | length > 1 and messages[-1].role == 'user' %}last user{% endif %} {{ messages[1:] | map(attribute='role') | join(',') }} {{ (messages | selectattr('role', 'eq', 'system') | list | length) > 0 }}", {"messages": MSGS + [{"role": "user", "content": "x"}]}),
]


def snippet_goldens():
    out = []
    names = set()
    for name, source, context in SNIPPETS:
        assert name not in names, f"duplicate snippet name {name}"
        names.add(name)
        out.append({"name": name, "template": source, "context": context, **render(source, context)})
    return out


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    chats = chat_goldens()
    snippets = snippet_goldens()
    for filename, data in (("chat_templates.json", chats), ("snippets.json", snippets)):
        with open(os.path.join(OUT_DIR, filename), "w", encoding="utf-8", newline="\n") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
    n_err = sum(1 for c in chats["cases"] if "error" in c)
    s_err = sum(1 for s in snippets if "error" in s)
    print(f"{len(chats['cases'])} chat cases ({n_err} errors), {len(snippets)} snippets ({s_err} errors)")
    print(f"jinja2 {jinja2.__version__}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
