// Every snippet rendered by jinja2 (tests/reference/make_template_goldens.py) must render byte for byte
// the same here, and every snippet jinja2 rejects must throw.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/jinja.h"

namespace {

nlohmann::ordered_json load_golden(const std::string& name) {
  std::ifstream in(std::string(GLINT_SOURCE_DIR) + "/tests/reference/template_goldens/" + name);
  EXPECT_TRUE(in.good()) << "missing golden file " << name;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::ordered_json::parse(buffer.str());
}

TEST(JinjaGolden, SnippetsMatchJinja2) {
  nlohmann::ordered_json snippets = load_golden("snippets.json");
  ASSERT_GT(snippets.size(), 100u);
  int failures = 0;
  for (const auto& snippet : snippets) {
    const std::string name = snippet["name"];
    const std::string source = snippet["template"];
    SCOPED_TRACE("snippet " + name + ": " + source);
    std::string rendered;
    std::string error;
    try {
      glint::jinja::Template tmpl(source);
      rendered = tmpl.render(snippet["context"]);
    } catch (const glint::Error& e) {
      error = e.what();
    }
    if (snippet.contains("output")) {
      EXPECT_EQ(error, "") << "unexpected error";
      EXPECT_EQ(rendered, snippet["output"].get<std::string>());
      failures += !error.empty() || rendered != snippet["output"].get<std::string>();
    } else {
      EXPECT_NE(error, "") << "expected an error like: " << snippet["message"].get<std::string>()
                           << "\nbut rendered: " << rendered;
      if (snippet["error"] == "raised") {
        EXPECT_EQ(error, snippet["message"].get<std::string>());
      }
      failures += error.empty();
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
