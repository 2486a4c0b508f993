// Interpreter behaviour that the jinja2 goldens do not cover: error positions, limits, reuse and
// threads, and the Python formatting helpers on their own.
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/jinja.h"
#include "io/jinja_json.h"
#include "io/jinja_unicode.h"
#include "io/jinja_value.h"

namespace {

using glint::jinja::Template;
using glint::jinja::Value;
using ordered_json = nlohmann::ordered_json;

std::string render(const std::string& source, const ordered_json& context = ordered_json::object()) {
  return Template(source).render(context);
}

std::string error_of(const std::string& source, const ordered_json& context = ordered_json::object()) {
  try {
    render(source, context);
  } catch (const glint::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Jinja, RuntimeErrorsNameTheLine) {
  std::string message = error_of("line 1\n{% for m in messages %}\n{{ m.content + 1 }}\n{% endfor %}",
                                 ordered_json{{"messages", ordered_json::parse(R"([{"content": "x"}])")}});
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
  EXPECT_NE(message.find("can only concatenate str"), std::string::npos) << message;
}

TEST(Jinja, SyntaxErrorsNameLineAndColumn) {
  std::string message = error_of("ok\n\n  {{ 'unterminated }}");
  EXPECT_NE(message.find("line 3, column 6"), std::string::npos) << message;
  message = error_of("{% if x %}\n{% endfor %}");
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
}

TEST(Jinja, RecursionAndNestingAreBounded) {
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion"), std::string::npos);
  std::string deep = "{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}";
  EXPECT_NE(error_of(deep).find("nesting is too deep"), std::string::npos);
  // Moderate nesting is fine.
  EXPECT_EQ(render("{{ " + std::string(50, '(') + "1" + std::string(50, ')') + " }}"), "1");
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ f(100) }}"),
            "done");
}

TEST(Jinja, RaiseExceptionIsDistinguishable) {
  try {
    render("{{ raise_exception('custom message') }}");
    FAIL();
  } catch (const glint::jinja::RaisedException& e) {
    EXPECT_STREQ(e.what(), "custom message");
  }
}

TEST(Jinja, TemplateIsReusableAndThreadSafe) {
  Template tmpl(
      "{% set ns = namespace(n=0) %}{% for m in messages | selectattr('role', 'eq', 'user') %}"
      "{% set ns.n = ns.n + 1 %}{{ m.content | upper }};{% endfor %}{{ ns.n }}");
  ordered_json context = {{"messages", ordered_json::parse(R"([{"role": "user", "content": "a"},
      {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])")}};
  const std::string expected = "A;C;2";
  EXPECT_EQ(tmpl.render(context), expected);
  EXPECT_EQ(tmpl.render(context), expected);  // nothing left over from the first render
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) mismatches[t] += tmpl.render(context) != expected;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0);
}

TEST(Jinja, ContextMustBeAMapping) {
  EXPECT_THROW(Template("x").render(ordered_json::array()), glint::Error);
}

TEST(JinjaValue, PythonFloatRepr) {
  using glint::jinja::python_float_repr;
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(123456789012.5), "123456789012.5");
}

TEST(JinjaValue, PythonRepr) {
  ordered_json data = ordered_json::parse(R"({"s": "it's", "q": "say \"hi\"", "n": null, "b": [true, 1.5, "\u00e9\n"]})");
  EXPECT_EQ(glint::jinja::repr(glint::jinja::from_json(data)),
            R"({'s': "it's", 'q': 'say "hi"', 'n': None, 'b': [True, 1.5, 'é\n']})");
  EXPECT_EQ(glint::jinja::python_string_repr("tab\there\x01\xc2\xa0"), "'tab\\there\\x01\\xa0'");
}

TEST(JinjaValue, JsonDumpsLikePython) {
  Value v = glint::jinja::from_json(ordered_json::parse(R"({"b": [1, 2.0, "é\u0001"], "a": {}})"));
  glint::jinja::JsonDumpOptions options;
  EXPECT_EQ(glint::jinja::python_json_dumps(v, options), "{\"b\": [1, 2.0, \"é\\u0001\"], \"a\": {}}");
  options.indent = "  ";
  options.sort_keys = true;
  EXPECT_EQ(glint::jinja::python_json_dumps(v, options), "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2.0,\n    \"é\\u0001\"\n  ]\n}");
  glint::jinja::JsonDumpOptions ascii;
  ascii.ensure_ascii = true;
  EXPECT_EQ(glint::jinja::python_json_dumps(Value("é😀"), ascii), "\"\\u00e9\\ud83d\\ude00\"");
}

TEST(JinjaUnicode, CaseAndWhitespace) {
  EXPECT_EQ(glint::jinja::py_upper("straße é"), "STRASSE É");  // Python uses the full mapping ß -> SS
  EXPECT_EQ(glint::jinja::py_lower("ΟΔΟΣ ΣΟΦΟΣ"), "οδος σοφος");  // final sigma
  EXPECT_EQ(glint::jinja::py_title("hello wORLD-foo"), "Hello World-Foo");
  EXPECT_EQ(glint::jinja::py_strip("\u3000 x \n", nullptr, true, true), "x");
  EXPECT_TRUE(glint::jinja::py_isspace(0x2028));
  EXPECT_FALSE(glint::jinja::py_isprintable(0x200B));
  EXPECT_EQ(glint::jinja::utf8_length("añ☃😀"), 4u);
}

}  // namespace
