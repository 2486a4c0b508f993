// ChatTemplate: loading from model directories and rendering real and representative chat templates
// byte for byte as transformers' apply_chat_template does (goldens from make_template_goldens.py).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/chat_template.h"
#include "io/jinja.h"

namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const fs::path kSource = GLINT_SOURCE_DIR;

TEST(ChatTemplateGolden, AllCasesMatchTransformers) {
  ordered_json golden = ordered_json::parse(read_text(kSource / "tests/reference/template_goldens/chat_templates.json"));
  ASSERT_GT(golden["cases"].size(), 200u);
  int failures = 0, checked = 0;
  for (const auto& c : golden["cases"]) {
    const std::string template_name = c["template"];
    const std::string case_name = template_name + "/" + c["messages"].get<std::string>() + "/" +
                                  c["extra"].get<std::string>() + (c["add_generation_prompt"].get<bool>() ? "/agp" : "");
    SCOPED_TRACE(case_name);
    std::string source = read_text(kSource / "tests/data/templates" / (template_name + ".jinja"));
    glint::ChatTemplate chat =
        glint::ChatTemplate::from_string(source, nlohmann::json::parse(golden["special_tokens"][template_name].dump()));
    std::string rendered, error;
    bool raised = false;
    try {
      rendered = chat.render(golden["message_sets"][c["messages"].get<std::string>()], c["add_generation_prompt"].get<bool>(),
                             golden["extra_contexts"][c["extra"].get<std::string>()]);
    } catch (const glint::jinja::RaisedException& e) {
      error = e.what();
      raised = true;
    } catch (const glint::Error& e) {
      error = e.what();
    }
    ++checked;
    if (c.contains("output")) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(rendered, c["output"].get<std::string>());
      failures += !error.empty() || rendered != c["output"].get<std::string>();
    } else {
      EXPECT_NE(error, "") << "expected: " << c["message"].get<std::string>();
      if (c["error"] == "raised") {
        EXPECT_TRUE(raised);
        EXPECT_EQ(error, c["message"].get<std::string>());
      }
      failures += error.empty();
    }
  }
  EXPECT_EQ(failures, 0) << "of " << checked << " cases";
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("glint_chat_template_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

const ordered_json kOneUser = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");

TEST(ChatTemplate, FromDirPrefersJinjaFile) {
  TempDir dir;
  dir.write("chat_template.jinja", "J{{ bos_token }}{{ messages[0].content }}\n");
  dir.write("chat_template.json", R"({"chat_template": "JSON"})");
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": "CONFIG"})");
  auto chat = glint::ChatTemplate::from_dir(dir.path());
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat->render(kOneUser, false), "J<s>hi");  // jinja2 drops the single trailing newline
}

TEST(ChatTemplate, FromDirReadsChatTemplateJson) {
  TempDir dir;
  dir.write("chat_template.json", R"({"chat_template": "{{ eos_token }}{{ add_generation_prompt }}"})");
  dir.write("tokenizer_config.json", R"({"eos_token": {"content": "</s>", "lstrip": false}})");
  auto chat = glint::ChatTemplate::from_dir(dir.path());
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat->render(kOneUser, true), "</s>True");
}

TEST(ChatTemplate, FromDirTakesDefaultOfNamedTemplates) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ tools }}"}]})");
  auto chat = glint::ChatTemplate::from_dir(dir.path());
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat->render(kOneUser, false), "DNone");  // tools is passed explicitly as None
}

TEST(ChatTemplate, FromDirWithoutTemplateIsEmpty) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_FALSE(glint::ChatTemplate::from_dir(dir.path()).has_value());
}

TEST(ChatTemplate, FromDirReportsBrokenFiles) {
  TempDir dir;
  dir.write("tokenizer_config.json", "{not json");
  EXPECT_THROW(glint::ChatTemplate::from_dir(dir.path()), glint::Error);
  EXPECT_THROW(glint::ChatTemplate::from_dir(dir.path() + "/does-not-exist"), glint::Error);
  TempDir other;
  other.write("tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "x"}]})");
  EXPECT_THROW(glint::ChatTemplate::from_dir(other.path()), glint::Error);
}

TEST(ChatTemplate, SyntaxErrorNamesLineAndColumn) {
  try {
    glint::ChatTemplate::from_string("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}");
    FAIL() << "expected a syntax error";
  } catch (const glint::Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  try {
    glint::ChatTemplate::from_string("ok\n  {% include 'other.jinja' %}");
    FAIL() << "expected an unsupported-tag error";
  } catch (const glint::Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("line 2, column 3"), std::string::npos) << message;
    EXPECT_NE(message.find("include"), std::string::npos) << message;
  }
}

TEST(ChatTemplate, RaiseExceptionKeepsMessage) {
  auto chat = glint::ChatTemplate::from_string("{{ raise_exception('no ' ~ messages[0].role) }}");
  try {
    chat.render(kOneUser, false);
    FAIL() << "expected raise_exception to throw";
  } catch (const glint::jinja::RaisedException& e) {
    EXPECT_STREQ(e.what(), "no user");
  }
}

TEST(ChatTemplate, RejectsMalformedMessages) {
  auto chat = glint::ChatTemplate::from_string("{{ messages }}");
  EXPECT_THROW(chat.render(ordered_json::parse(R"({"role": "user"})"), false), glint::Error);
  EXPECT_THROW(chat.render(ordered_json::parse(R"(["just a string"])"), false), glint::Error);
  EXPECT_THROW(chat.render(kOneUser, false, ordered_json::parse(R"({"messages": []})")), glint::Error);
}

TEST(ChatTemplate, ExtraContextOverridesSpecialTokensAndKeepsKeyOrder) {
  auto chat = glint::ChatTemplate::from_string("{{ bos_token }}|{{ messages[0] | tojson }}|{{ flag }}",
                                               nlohmann::json{{"bos_token", "<s>"}});
  ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "x", "b": 1, "a": 2}])");
  EXPECT_EQ(chat.render(messages, false, ordered_json{{"bos_token", "[B]"}, {"flag", true}}),
            R"([B]|{"role": "user", "content": "x", "b": 1, "a": 2}|True)");
}

TEST(ChatTemplate, RealGemma3FromTokenizerCacheIfPresent) {
  const char* home = std::getenv("HOME");
  fs::path dir = fs::path(home ? home : "/root") / ".cache/glint/tokenizers/gemma3";
  if (!fs::exists(dir / "tokenizer_config.json")) GTEST_SKIP() << "no cached gemma3 tokenizer at " << dir;
  auto chat = glint::ChatTemplate::from_dir(dir.string());
  ASSERT_TRUE(chat.has_value());
  ordered_json messages = ordered_json::parse(R"([{"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe. "}]}])");
  EXPECT_EQ(chat->render(messages, true),
            "<bos><start_of_turn>user\nBe brief.\n\n<start_of_image>Describe.<end_of_turn>\n<start_of_turn>model\n");
}

}  // namespace
